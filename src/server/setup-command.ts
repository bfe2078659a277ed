/**
 * What a first start prints so that someone can create the administrator: the setup page's link, and a shell
 * command that asks for the email and the password. The command carries no password of its own: pasted unchanged
 * it prompts, and nothing is sent until both are typed (an earlier version printed a JSON literal with a
 * `<12+ characters>` placeholder, which, pasted unchanged, created an administrator with a publicly known password).
 *
 * The command is POSIX sh (bash, zsh, dash): `stty -echo` hides the password as it is typed, `IFS= read -r` keeps
 * it exactly as typed (spaces at either end, backslashes), and the password
 * reaches curl on its standard input (`--data-urlencode password@-`), never on a command line that `ps` shows.
 * Every line but the last ends in a backslash, so a pasted block is one command: the prompts read from the
 * terminal, not the pasted lines that follow.
 */
export function setupInstructions(url: string, setupToken: string): string[] {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    'First start: create the administrator within this run, in a browser at',
    `  ${url}/setup#token=${setupToken}`,
    'or from a shell (it asks for the email and the password):',
    `  printf 'Administrator email: '; read -r BULWARK_EMAIL; \\`,
    `  printf 'Password (12+ characters): '; stty -echo 2>/dev/null; IFS= read -r BULWARK_PASSWORD; stty echo 2>/dev/null; echo; \\`,
    `  printf '%s' "$BULWARK_PASSWORD" | curl -sS ${q(`${url}/api/v1/setup`)} --data-urlencode ${q(`token=${setupToken}`)} \\`,
    `    --data-urlencode "email=$BULWARK_EMAIL" --data-urlencode name=Administrator --data-urlencode password@-; echo`,
  ];
}
