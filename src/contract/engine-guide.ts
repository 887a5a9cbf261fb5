// What people are told about a database engine: its name, how a grantee connects,
// what its admin account must hold, how open sessions take a change of privileges,
// what keeps an account from being dropped and the statements an operator runs by
// hand. Pure data and pure functions, so that the API, the CLI and the messages can
// use it without loading a database driver. Each engine under adapters/engines
// provides one; the message templates hold no engine's text of their own.
//
// Sentences are complete (capital letter, full stop) unless the field says it is a
// clause; every value in a statement is checked or quoted by the guide itself.

/** Where and as whom a grantee connects. */
export interface ConnectTarget {
  host: string;
  port: number;
  username: string;
  /** Schema (MySQL) or database (PostgreSQL) to open; left out when unknown. */
  database?: string;
}

/** A stored object an account left behind, by name (already reported by the engine). */
export interface StoredObjectRef {
  kind: string;
  schema: string;
  name: string;
}

export interface EngineGuide {
  /** The engine's key in the configuration (`mysql`, `postgresql`). */
  engine: string;
  /** The product's name for people, by the dialect a server reported (`MySQL`, `MariaDB`, `PostgreSQL`). */
  displayName(dialect?: string): string;
  /** A shell command that opens a session and prompts for the password; every value shell-quoted. */
  connectCommand(target: ConnectTarget): string;

  /** The keys of the admin secret's JSON document, in the order people are told them. */
  adminSecretKeys: readonly string[];

  /** What the admin account must hold, one sentence each, for the administrators' checklists. */
  adminNeeds: {
    /** To create an account on the database (a grant that failed creating it). */
    createAccount: string;
    /** To grant a level (a grant that failed granting it). */
    grantPrivileges: string;
    /** To end access: lock, change and drop accounts and end their sessions. */
    endAccess: string;
    /** To see and end the sessions of other accounts; one line per product where they differ. */
    endSessions: readonly string[];
  };

  /** How open sessions take a change of privileges, one sentence each. */
  sessions: {
    /** To the grantee, after a lowering ended their sessions. */
    endedOnLowering: string;
    /** To the grantee, after a change that left their sessions open. */
    keptOnRaise: string;
    /** To the administrators, when a lowering could not end the sessions: what an old session may keep. */
    staleAfterLowering: string;
  };

  /**
   * Statements an operator runs by hand as the admin account, one per line;
   * undefined for an account name the guide cannot place in a statement safely.
   */
  manual: {
    /** Lock the account, take its privileges and find its sessions, when access must end at once. */
    endAccess(account: string): string | undefined;
    /** Find the account's sessions and end them. */
    endSessions(account: string): string | undefined;
  };

  /** The stored objects an account is responsible for, which can keep the server from dropping it. */
  storedObjects: {
    /** The account's role towards them, as a noun (`definer`, `owner`). */
    role: string;
    /** Why the server refuses to drop such an account. */
    dropRefusal: string;
    /** A clause (lower case, no full stop): what was done so that none of them runs with the account's rights; absent when nothing is. */
    disabled?: string;
    /** What the objects do once the account is gone, until they get another account. */
    orphaned: string;
    /** How to keep an object: give it to another account. */
    reassign: string;
    /** Why some objects (tables) are never listed. */
    notListed: string;
    /** Introduces `listQuery`. */
    listIntro: string;
    /** The statement that lists every object the account is responsible for. */
    listQuery(account: string): string | undefined;
    /** The statements that show the definitions of these objects (those it can name safely). */
    showDefinitions(objects: readonly StoredObjectRef[]): string[];
  };
}
