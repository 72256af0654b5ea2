/*
 * ledger_cmd: `anthropic-proxy ledger report|export`, the ledger's rows
 * read back (read-only, while the proxy writes): spend and tokens grouped
 * by developer, team, model, session or day, or the rows themselves.
 */
#ifndef APX_LEDGER_CMD_H
#define APX_LEDGER_CMD_H

int ledger_command(int argc, char **argv, char *const *envp);

#endif
