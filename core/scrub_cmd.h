/*
 * scrub_cmd: the `anthropic-proxy scrub` command (see scrub_cmd.c).
 */
#ifndef APX_SCRUB_CMD_H
#define APX_SCRUB_CMD_H

/* argv[0] is "scrub". Returns the process's exit status. */
int scrub_command(int argc, char **argv, char *const *environ_in);

#endif
