/** Error raised for any problem in a SecLang file: names the file, line and directive at fault, and what to do. */
export class SecLangError extends Error {
  override readonly name = 'SecLangError';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly directive: string,
    readonly reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
  }
}
