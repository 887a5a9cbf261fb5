// What people are told about a database engine: its name, how a grantee connects,
// how an operator looks into what an account left behind. Pure data and pure
// functions, so that the API, the CLI and the e-mails can use it without loading
// a database driver. Each engine under adapters/engines provides one.

/** Where and as whom a grantee connects. */
export interface ConnectTarget {
  host: string;
  port: number;
  username: string;
  /** Schema (MySQL) or database (PostgreSQL) to open; left out when unknown. */
  database?: string;
}

export interface EngineGuide {
  /** The engine's key in the configuration (`mysql`, `postgresql`). */
  engine: string;
  /** The product's name for people, by the dialect a server reported (`MySQL`, `MariaDB`, `PostgreSQL`). */
  displayName(dialect?: string): string;
  /** A shell command that opens a session and prompts for the password; every value shell-quoted. */
  connectCommand(target: ConnectTarget): string;
}
