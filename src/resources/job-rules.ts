import { scheduleProblem } from "../util/cron-schedule.js";
import type { PolicyIssue } from "./policy-issue.js";

/**
 * What the schema cannot say of `spec.jobs`: a schedule croner refuses, an unknown time zone, a
 * job name used twice. Runs before the schema check, so every shape is read with care.
 */
export function jobIssues(spec: unknown): PolicyIssue[] {
  const jobs = (spec as { jobs?: unknown } | null | undefined)?.jobs;
  if (!Array.isArray(jobs)) return [];
  const issues: PolicyIssue[] = [];
  const seen = new Set<string>();
  for (const [i, job] of jobs.entries()) {
    if (!job || typeof job !== "object") continue;
    const { name, schedule, timeZone } = job as Record<string, unknown>;
    if (typeof name === "string") {
      if (seen.has(name))
        issues.push({ path: ["spec", "jobs", i, "name"], message: `job ${name} is defined twice`, atKey: false });
      seen.add(name);
    }
    if (typeof schedule !== "string" || (timeZone !== undefined && typeof timeZone !== "string")) continue;
    if (timeZone !== undefined) {
      const problem = scheduleProblem({ schedule: "0 0 * * *", timeZone });
      if (problem) {
        issues.push({ path: ["spec", "jobs", i, "timeZone"], message: problem, atKey: false });
        continue;
      }
    }
    const problem = scheduleProblem({ schedule });
    if (problem)
      issues.push({ path: ["spec", "jobs", i, "schedule"], message: `invalid schedule: ${problem}`, atKey: false });
  }
  return issues;
}
