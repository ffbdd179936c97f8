import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { parseTaskOutput, renderTaskUserData } from "../../src/providers/aws/task-script.js";
import { taskClientToken, taskId } from "../../src/providers/aws/tasks.js";
import type { InstanceProgram } from "../../src/providers/aws/userdata.js";

const program: InstanceProgram = {
  label: "app shop/web",
  runtime: "docker",
  image: "example/web:1",
  source: undefined,
  command: ["serve"],
  env: { GREETING: "a $dollar and `ticks`" },
  port: 8080,
  secrets: { region: "us-east-1", path: "/airloft/inst/shop/uid-1/", files: ["/etc/app/key.pem"] },
};
const task = { id: "0123abcd", label: "release shop/web", command: ["sh", "-c", "echo 'migrating'; exit 3"] };

function bashSyntax(script: string): string {
  const r = spawnSync("bash", ["-n"], { input: script, encoding: "utf8" });
  return r.status === 0 ? "ok" : r.stderr;
}

/** A one-shot task instance's user data, and reading its result off the console (src/providers/aws/task-script.ts). */
describe("AWS task instances: the script and its console markers", () => {
  it("renders a script that passes bash -n, runs the command once in the app's image, and powers off", () => {
    const script = renderTaskUserData(program, task);
    assert.equal(bashSyntax(script), "ok");
    assert.match(script, /trap airloft_task_end EXIT/);
    assert.match(script, /echo "airloft-task 0123abcd exit=\$code"/);
    assert.match(script, /systemctl poweroff/);
    const run = script.split("\n").find((l) => l.startsWith("docker run"));
    assert.equal(
      run,
      "docker run --rm --name airloft-task --env-file /etc/airloft/app.env --env-file /run/airloft/secrets.env " +
        "-v /run/airloft/files/0:/etc/app/key.pem:ro --security-opt no-new-privileges --cap-drop NET_RAW " +
        "--cap-drop MKNOD --cap-drop SYS_CHROOT --cap-drop AUDIT_WRITE example/web:1 sh -c 'echo '\\''migrating'\\''; exit 3'",
    );
    // No restart, no published port, not the app's own command; secrets come from SSM at boot.
    assert.doesNotMatch(run ?? "", /--restart|-p 8080| serve$/);
    assert.match(script, /aws ssm get-parameters-by-path --region us-east-1 --path \/airloft\/inst\/shop\/uid-1\//);
    assert.ok(script.indexOf("airloft-task 0123abcd begin") < script.indexOf("docker run --rm"));
    assert.ok(script.indexOf("trap airloft_task_end EXIT") < script.indexOf("systemctl enable --now docker"));
  });

  it("the rendered script really ends with the command's exit code and the markers (bash, docker stubbed)", () => {
    const script = renderTaskUserData({ ...program, secrets: undefined }, task)
      .replace(/^exec > .*$/m, "")
      .replace(/^command -v docker.*$/m, "")
      .replace(/^systemctl .*$/gm, "true")
      .replace(/^install .*$/gm, "true")
      .replace(/^cat > \/etc\/airloft\/app.env/m, "cat > /dev/null")
      .replace(/^docker run .* example\/web:1 /m, "")
      .replace("systemctl poweroff || poweroff -f", "true");
    const r = spawnSync("bash", [], { input: script, encoding: "utf8" });
    assert.equal(r.status, 3, r.stderr);
    const parsed = parseTaskOutput(r.stdout, task.id);
    assert.deepEqual(parsed, { begun: true, exitCode: 3, lines: ["migrating"] });
  });

  it("refuses a runtime without an image, an empty command and control characters", () => {
    assert.throws(
      () => renderTaskUserData({ ...program, runtime: "node", source: { url: "https://x.invalid/a.git" } }, task),
      /runtime docker/,
    );
    assert.throws(() => renderTaskUserData(program, { ...task, command: [] }), /empty/);
    assert.throws(() => renderTaskUserData(program, { ...task, command: ["a\nb"] }), /control character/);
    assert.throws(() => renderTaskUserData(program, { ...task, id: "x;rm" }), /not a hash/);
  });

  it("parses the console: setup lines left out, prefixes allowed, the last end marker counts", () => {
    const text = [
      "[   10.1] cloud-init[1]: installing docker",
      "cloud-init[1]: airloft-task 0123abcd begin",
      "cloud-init[1]: step 1",
      "airloft-task 0123abcd exit=0",
      "cloud-init[1]: step 2",
      "cloud-init[1]: airloft-task 0123abcd exit=1",
      "reboot: Power down",
    ].join("\r\n");
    assert.deepEqual(parseTaskOutput(text, "0123abcd"), {
      begun: true,
      exitCode: 1,
      lines: ["cloud-init[1]: step 1", "airloft-task 0123abcd exit=0", "cloud-init[1]: step 2"],
    });
    assert.deepEqual(parseTaskOutput("booting\nstill booting", "0123abcd"), {
      begun: false,
      lines: ["booting", "still booting"],
    });
    // Another task's markers are not this one's.
    assert.equal(parseTaskOutput("airloft-task ffff begin\nairloft-task ffff exit=0", "0123abcd").exitCode, undefined);
    // A setup step that failed: an end marker with no begin.
    assert.deepEqual(parseTaskOutput("no space left\nairloft-task 0123abcd exit=1", "0123abcd"), {
      begun: false,
      exitCode: 1,
      lines: ["no space left"],
    });
  });

  it("a task's id and tokens are stable, distinct per identity and per attempt", () => {
    const a = taskId({ kind: "Release", identity: ["uid-1", "hash-1", '["migrate"]'] });
    assert.equal(a, taskId({ kind: "Release", identity: ["uid-1", "hash-1", '["migrate"]'] }));
    assert.notEqual(a, taskId({ kind: "Release", identity: ["uid-1", "hash-2", '["migrate"]'] }));
    assert.notEqual(a, taskId({ kind: "Job", identity: ["uid-1", "hash-1", '["migrate"]'] }));
    assert.match(a, /^[a-f0-9]{32}$/);
    assert.notEqual(taskClientToken(a, 0), taskClientToken(a, 1));
    assert.ok(taskClientToken(a, 0).length <= 64);
  });
});
