import { type Notification, notificationSubject } from "./events.js";

/** Longest text of one field: a tenant's 64 KiB message must not make a 64 KiB webhook body. */
const MAX_FIELD = 2000;
const MAX_NAME = 100;

export interface PayloadContext {
  /** A unique id per notification, for receivers that drop repeats. */
  readonly id: string;
  /** Seconds since the epoch: the same value as the X-Airloft-Timestamp header, under the signature. */
  readonly timestamp: number;
  readonly alert: string;
}

/** Cuts a string to `max` characters and drops control characters but line breaks. */
export function clip(text: string, max = MAX_FIELD): string {
  const clean = text.replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g, " ");
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

/** The generic JSON body. */
export function genericPayload(n: Notification, ctx: PayloadContext): Record<string, unknown> {
  return {
    id: ctx.id,
    timestamp: ctx.timestamp,
    alert: ctx.alert,
    event: clip(n.event, MAX_NAME),
    reason: clip(n.reason, MAX_NAME),
    severity: n.severity,
    involvedObject: {
      kind: n.kind,
      group: n.group,
      name: n.name,
      ...(n.generation ? { generation: n.generation } : {}),
    },
    message: clip(n.message),
    time: n.time,
  };
}

/** Slack's incoming-webhook body: `text` for notifications, `blocks` for the message itself. */
export function slackPayload(n: Notification, ctx: PayloadContext): Record<string, unknown> {
  const icon = n.severity === "error" ? ":red_circle:" : ":large_green_circle:";
  const title = `${icon} ${notificationSubject(n)}: ${clip(n.event, MAX_NAME)} (${clip(n.reason, MAX_NAME)})`;
  return {
    text: `${title}: ${clip(n.message, 300)}`,
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: escapeSlack(title) } },
      { type: "section", text: { type: "plain_text", text: clip(n.message), emoji: false } },
      { type: "context", elements: [{ type: "mrkdwn", text: escapeSlack(`${ctx.alert} · ${n.time} · ${ctx.id}`) }] },
    ],
  };
}

/** Slack reads &, < and > as markup (links, mentions): a tenant's text must stay text. */
function escapeSlack(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
