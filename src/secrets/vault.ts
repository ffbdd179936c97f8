import { randomBytes } from "node:crypto";
import type { Resource } from "../resources/types.js";
import { isSealed, keyedHash, open, seal } from "./cipher.js";
import type { Keyring } from "./keyring.js";

/** The parts of the state file the vault keeps: sealed values by object uid, and the sealed hash key. */
export interface VaultData {
  secrets?: Record<string, Record<string, string>>;
  secretHashKey?: string;
  objects: Record<string, Resource>;
}

/** A new service's password: 24 random bytes, in base64url (safe in any URL or config file). */
export function generatedPassword(): Buffer {
  return Buffer.from(randomBytes(24).toString("base64url"));
}

const HASH_KEY_PLACE = "airloft/secret-hash-key";

/** Where a value belongs: what its ciphertext is bound to. */
export function placeOf(obj: Pick<Resource, "kind" | "metadata">, key: string): string {
  return `${obj.kind}/${obj.metadata.group ?? ""}/${obj.metadata.name}/${key}`;
}

/** How the vault has its values written (src/store/state-file.ts). */
interface VaultState {
  readonly data: VaultData;
  persist(): Promise<void>;
  /** Writes the whole state now, leaving no older copy of any value on disk. */
  rewrite(): Promise<void>;
  /** Has the next write rewrite the whole state. */
  eraseSoon(): void;
  /** Marks an object's values as changed, for the next write. */
  touch(map: "secrets", uid: string): void;
}

/**
 * Secret values in the state file, sealed (cipher.ts) under the keyring, which is read only when
 * a value is first sealed or opened: `get` and `describe` never need the key.
 */
export class Vault {
  private keyring: Keyring | undefined;
  private hashKey: Buffer | undefined;

  constructor(
    private readonly state: VaultState,
    private readonly loadKeys: () => Keyring,
  ) {}

  private data(): VaultData {
    return this.state.data;
  }

  /** A writer's first open: makes the key (file) and seals what an older AirLoft kept in plain text. */
  async sealOnFirstOpen(): Promise<void> {
    this.keys();
    if (!this.hasPlainValues()) return;
    this.resealAll();
    await this.state.rewrite(); // the values in clear must leave the disk, journal included
  }

  /** Seals every value again under the (re-read) current key, durably; returns how many. */
  async reseal(): Promise<number> {
    this.keyring = undefined;
    const count = this.resealAll();
    await this.state.rewrite(); // nothing sealed under a retired key stays on disk
    return count;
  }

  /** An object's values as text. */
  text(obj: Resource): Record<string, string> {
    return Object.fromEntries(Object.entries(this.get(obj)).map(([k, v]) => [k, v.toString("utf8")]));
  }

  private keys(): Keyring {
    this.keyring ??= this.loadKeys();
    return this.keyring;
  }

  /** Replaces an object's values. */
  put(obj: Resource, values: Readonly<Record<string, Buffer>>): void {
    const keys = this.keys();
    // Own properties, "__proto__" too (fromEntries): an assignment would set the prototype instead.
    const sealed = Object.fromEntries(
      Object.entries(values).map(([key, value]) => [key, seal(keys, placeOf(obj, key), value)]),
    );
    const data = this.data();
    data.secrets ??= {};
    data.secrets[obj.metadata.uid ?? ""] = sealed;
    this.state.touch("secrets", obj.metadata.uid ?? "");
  }

  /** An object's values, opened; a changed or moved ciphertext is refused. */
  get(obj: Resource): Record<string, Buffer> {
    const sealed = this.data().secrets?.[obj.metadata.uid ?? ""] ?? {};
    return Object.fromEntries(
      Object.entries(sealed).map(([key, text]) => [
        key,
        isSealed(text) ? open(this.keys(), placeOf(obj, key), text) : Buffer.from(text),
      ]),
    );
  }

  has(obj: Resource): boolean {
    return this.data().secrets?.[obj.metadata.uid ?? ""] !== undefined;
  }

  remove(uid: string): void {
    if (this.data().secrets?.[uid] === undefined) return;
    delete this.data().secrets?.[uid];
    this.state.touch("secrets", uid);
    this.state.eraseSoon(); // gone from the file with the next write, not at the next compaction
  }

  /** The hash shown for a value (its keyed hash): stable across key rotations. */
  hash(value: Buffer): string {
    return keyedHash(this.hashKeyBytes(), value);
  }

  private hashKeyBytes(): Buffer {
    if (this.hashKey) return this.hashKey;
    const data = this.data();
    if (data.secretHashKey === undefined) {
      const fresh = randomBytes(32);
      data.secretHashKey = seal(this.keys(), HASH_KEY_PLACE, fresh);
      this.hashKey = fresh;
    } else this.hashKey = open(this.keys(), HASH_KEY_PLACE, data.secretHashKey);
    return this.hashKey;
  }

  /**
   * Seals every value again under the current key (and any value an older AirLoft kept in plain
   * text); the caller persists. Returns how many values it sealed.
   */
  private resealAll(): number {
    const data = this.data();
    const owners = new Map(Object.values(data.objects).map((o) => [o.metadata.uid ?? "", o]));
    const hashKey = this.hashKeyBytes();
    data.secretHashKey = seal(this.keys(), HASH_KEY_PLACE, hashKey);
    let count = 0;
    for (const uid of Object.keys(data.secrets ?? {})) {
      const owner = owners.get(uid);
      if (!owner) {
        this.remove(uid);
        continue;
      }
      const values = this.get(owner);
      this.put(owner, values);
      count += Object.keys(values).length;
    }
    return count;
  }

  /** Whether a value is still kept in plain text (a state file from before encryption). */
  private hasPlainValues(): boolean {
    return Object.values(this.data().secrets ?? {}).some((m) => Object.values(m).some((v) => !isSealed(v)));
  }
}
