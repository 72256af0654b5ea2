/*
 * developer_cmd: `anthropic-proxy developer add NAME --team TEAM`, the line
 * of the developers file for a key read on stdin: its SHA-256 fingerprint,
 * never the key.
 */
#ifndef APX_DEVELOPER_CMD_H
#define APX_DEVELOPER_CMD_H

int developer_command(int argc, char **argv);

#endif
