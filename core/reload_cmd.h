/*
 * reload_cmd: the `anthropic-proxy reload` command (see reload_cmd.c).
 */
#ifndef APX_RELOAD_CMD_H
#define APX_RELOAD_CMD_H

/* argv[0] is "reload". Returns the process's exit status. */
int reload_command(int argc, char **argv, char *const *environ_in);

#endif
