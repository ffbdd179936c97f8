/**
 * A Secret manifest's values: `data` in base64 (as Kubernetes has it) and `stringData` as text,
 * which wins for a key given in both. The schema has checked the shapes.
 */
export function secretInput(doc: unknown): Record<string, Buffer> {
  const { data, stringData } = doc as { data?: Record<string, string>; stringData?: Record<string, string> };
  // fromEntries defines each key as its own property: "__proto__" is a key like any other.
  return Object.fromEntries([
    ...Object.entries(data ?? {}).map(([key, text]) => [key, Buffer.from(text, "base64")] as const),
    ...Object.entries(stringData ?? {}).map(([key, text]) => [key, Buffer.from(text, "utf8")] as const),
  ]);
}
