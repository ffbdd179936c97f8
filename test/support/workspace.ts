import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments, stringify } from "yaml";
import type { Resource } from "../../src/resources/types.js";
import { REPO_ROOT } from "./cli.js";

/** A temp copy of the example manifests with its own state file, edited by tests. */
export class Workspace {
  readonly dir: string;
  readonly manifests: string;
  readonly state: string;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), "airloft-ws-"));
    this.manifests = join(this.dir, "manifests");
    // The Docker example only: manifests/aws/ is the AWS example, and `watch` reads sub-folders.
    // The tests predate the quick start's edge, cache and quota: they keep the example as it was,
    // so that they need neither the edge's nor Redis's image, nor free ports 80 and 443.
    const extras = ["aws", "cache.yaml", "quota.yaml"].map((f) => join(REPO_ROOT, "manifests", f));
    cpSync(join(REPO_ROOT, "manifests"), this.manifests, { recursive: true, filter: (s) => !extras.includes(s) });
    this.state = join(this.dir, "state.json");
    this.edit("group.yaml", (g) => {
      if (g.kind === "Group") delete g.spec.docker;
    });
    this.edit("web.yaml", (a) => {
      if (a.kind === "App") delete a.spec.services;
    });
  }

  /** Changes one manifest file's (single) document. */
  edit<R extends Resource = Resource>(file: string, change: (doc: R) => void): void {
    const path = join(this.manifests, file);
    const [doc] = parseAllDocuments(readFileSync(path, "utf8"));
    const value = doc?.toJS() as R;
    change(value);
    writeFileSync(path, stringify(value));
  }

  write(file: string, text: string): string {
    const path = join(this.dir, file);
    writeFileSync(path, text);
    return path;
  }

  removeFile(file: string): void {
    rmSync(join(this.dir, file), { force: true });
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
