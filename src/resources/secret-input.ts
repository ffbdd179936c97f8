/**
 * A Secret manifest's values: `data` in base64 (as Kubernetes has it) and `stringData` as text,
 * which wins for a key given in both. The schema has checked the shapes.
 */
export function secretInput(doc: unknown): Record<string, Buffer> {
  const { data, stringData } = doc as { data?: Record<string, string>; stringData?: Record<string, string> };
  const values: Record<string, Buffer> = {};
  for (const [key, text] of Object.entries(data ?? {})) values[key] = Buffer.from(text, "base64");
  for (const [key, text] of Object.entries(stringData ?? {})) values[key] = Buffer.from(text, "utf8");
  return values;
}
