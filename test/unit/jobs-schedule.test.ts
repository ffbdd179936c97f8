import { strict as assert } from "node:assert";
import { runContainerName, scheduledRunId } from "../../src/jobs/docker-runs.js";
import { commandProblem } from "../../src/jobs/one-off.js";
import { loadTexts } from "../../src/resources/loader.js";
import { dueRun, MAX_MISSED } from "../../src/util/cron-schedule.js";

const at = (iso: string): Date => new Date(iso);

describe("jobs: schedule and missed-run maths (a fake clock: dates given)", () => {
  const created = at("2026-01-01T00:00:00Z");

  it("nothing is due before the first schedule time; the next one is told", () => {
    const due = dueRun(
      { schedule: "0 3 * * *" },
      { lastScheduleTime: undefined, createdAt: created, now: at("2026-01-01T02:59:59Z") },
    );
    assert.equal(due.scheduleTime, undefined);
    assert.equal(due.missed, 0);
    assert.equal(due.next?.toISOString(), "2026-01-01T03:00:00.000Z");
  });

  it("the schedule time just passed is due once, and not again after it ran", () => {
    const now = at("2026-01-01T03:00:00.400Z");
    const due = dueRun({ schedule: "0 3 * * *" }, { lastScheduleTime: undefined, createdAt: created, now });
    assert.equal(due.scheduleTime?.toISOString(), "2026-01-01T03:00:00.000Z");
    assert.equal(due.missed, 1);
    const again = dueRun(
      { schedule: "0 3 * * *" },
      { lastScheduleTime: due.scheduleTime, createdAt: created, now: at("2026-01-01T03:00:05Z") },
    );
    assert.equal(again.scheduleTime, undefined);
  });

  it("times missed while AirLoft was down give one catch-up run, for the latest", () => {
    const due = dueRun(
      { schedule: "*/5 * * * *" },
      { lastScheduleTime: at("2026-01-01T10:00:00Z"), createdAt: created, now: at("2026-01-01T10:32:00Z") },
    );
    assert.equal(due.missed, 6);
    assert.equal(due.scheduleTime?.toISOString(), "2026-01-01T10:30:00.000Z");
    assert.equal(due.tooMany, false);
  });

  it("startingDeadlineSeconds: only times within the deadline count, none when the latest is older", () => {
    const state = { lastScheduleTime: at("2026-01-01T10:00:00Z"), createdAt: created, now: at("2026-01-01T10:32:00Z") };
    const within = dueRun({ schedule: "*/5 * * * *", startingDeadlineSeconds: 600 }, state);
    assert.equal(within.missed, 2);
    assert.equal(within.scheduleTime?.toISOString(), "2026-01-01T10:30:00.000Z");
    const late = dueRun({ schedule: "*/5 * * * *", startingDeadlineSeconds: 60 }, state);
    assert.equal(late.scheduleTime, undefined, "10:30 is two minutes old, past a one-minute deadline");
  });

  it(`more than ${MAX_MISSED} missed times: said, and the latest still runs`, () => {
    const due = dueRun(
      { schedule: "* * * * * *" },
      { lastScheduleTime: at("2026-01-01T10:00:00Z"), createdAt: created, now: at("2026-01-01T11:00:00.500Z") },
    );
    assert.equal(due.tooMany, true);
    assert.equal(due.scheduleTime?.toISOString(), "2026-01-01T11:00:00.000Z");
  });

  it("a time zone moves the schedule, with daylight saving", () => {
    const winter = dueRun(
      { schedule: "0 3 * * *", timeZone: "Europe/Paris" },
      { lastScheduleTime: undefined, createdAt: created, now: at("2026-01-01T02:00:01Z") },
    );
    assert.equal(winter.scheduleTime?.toISOString(), "2026-01-01T02:00:00.000Z");
    const summer = dueRun(
      { schedule: "0 3 * * *", timeZone: "Europe/Paris" },
      { lastScheduleTime: at("2026-07-01T00:00:00Z"), createdAt: created, now: at("2026-07-01T01:00:01Z") },
    );
    assert.equal(summer.scheduleTime?.toISOString(), "2026-07-01T01:00:00.000Z");
  });

  it("run names: the app's uid, the job and the schedule time, never ambiguous", () => {
    const id = scheduledRunId("nightly", at("2026-01-01T03:00:00Z"));
    assert.equal(id, "nightly-1767236400");
    assert.equal(runContainerName("0b7c-uid", id), "airloft-run_0b7c-uid_nightly-1767236400");
  });

  it("one-off commands: size, shape and control characters are refused", () => {
    assert.equal(commandProblem(["echo", "hi"]), undefined);
    assert.match(commandProblem([]) ?? "", /non-empty/);
    assert.match(commandProblem("echo hi") ?? "", /non-empty list/);
    assert.match(commandProblem(Array.from({ length: 300 }, () => "x")) ?? "", /at most 256/);
    assert.match(commandProblem(["x".repeat(70_000)]) ?? "", /over 65536 bytes/);
    assert.match(commandProblem(["echo", "a\nb"]) ?? "", /control characters/);
  });
});

describe("jobs: manifest errors name file:line:column and the field", () => {
  const manifest = (jobs: string): string => `apiVersion: airloft.dev/v1alpha1
kind: App
metadata:
  name: web
  group: acme
spec:
  image: busybox
  jobs:
${jobs}`;
  const errorsOf = (text: string): string[] => {
    try {
      loadTexts([{ name: "app.yaml", content: text, baseDir: "/nonexistent" }]);
      return [];
    } catch (err) {
      return String((err as Error).message).split("\n");
    }
  };

  it("a bad schedule, an unknown time zone, a name used twice, a bad policy", () => {
    const lines = errorsOf(
      manifest(`    - name: nightly
      schedule: "61 * * * *"
      command: [rake, cleanup]
    - name: nightly
      schedule: "0 3 * * *"
      timeZone: Mars/Olympus
      command: [rake, cleanup]
    - name: other
      schedule: "0 3 * * *"
      command: [rake]
      concurrencyPolicy: Sometimes
`),
    );
    assert.ok(
      lines.some((l) => /^app\.yaml:10:17 spec\.jobs\[0\]\.schedule: invalid schedule: .*minute/.test(l)),
      lines.join("\n"),
    );
    assert.ok(
      lines.some((l) => /^app\.yaml:12:13 spec\.jobs\[1\]\.name: job nightly is defined twice/.test(l)),
      lines.join("\n"),
    );
    assert.ok(
      lines.some((l) => /^app\.yaml:14:17 spec\.jobs\[1\]\.timeZone: unknown time zone "Mars\/Olympus"/.test(l)),
      lines.join("\n"),
    );
    assert.ok(
      lines.some((l) => /^app\.yaml:19:26 spec\.jobs\[2\]\.concurrencyPolicy/.test(l)),
      lines.join("\n"),
    );
  });

  it("a valid job loads", () => {
    const loaded = loadTexts([
      {
        name: "app.yaml",
        content: manifest(`    - name: tick\n      schedule: "*/5 * * * * *"\n      command: [date]\n`),
        baseDir: "/x",
      },
    ]);
    assert.equal(loaded[0]?.object.kind, "App");
  });
});
