/**
 * The series of one group from Prometheus text: sample lines whose `group` label is exactly the
 * group, with the HELP and TYPE lines of the families that keep a sample. Group names are DNS
 * labels, so a label value can hold no quote that would end it early.
 */
export function groupSeries(text: string, group: string): string {
  const out: string[] = [];
  let header: string[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) {
      if (line.startsWith("# HELP")) header = [];
      header.push(line);
    } else if (line !== "" && labelValue(line, "group") === group) {
      out.push(...header, line);
      header = [];
    }
  }
  return out.length > 0 ? `${out.join("\n")}\n` : "";
}

function labelValue(line: string, label: string): string | undefined {
  const open = line.indexOf("{");
  if (open < 0) return undefined;
  const match = new RegExp(`[{,]${label}="([^"]*)"`).exec(line.slice(open, line.indexOf("}", open) + 1));
  return match?.[1];
}
