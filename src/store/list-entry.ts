/**
 * A map entry whose value is a list of items that are added and dropped but never changed in
 * place (an object's last 20 events), encoded by reusing the bytes of the items its previous
 * encoding shares with it. Encoding every event list whole on each event took 60 to 90 ms of the
 * thread per 3,000-object apply (one event each, 20 kept): the list is new, its items mostly not.
 */

/** An entry's bytes (`"key":[...]`) and where each item's bytes end in them. */
export interface ListEntry {
  readonly bytes: Buffer;
  readonly itemEnds: readonly number[];
}

/**
 * `"key":[items]` as bytes. The run of `list`'s first items that `previous` (the entry as last
 * encoded, of `previousList`) holds in the same order is copied from its bytes; the rest is encoded.
 */
export function encodeListEntry(
  key: string,
  list: readonly unknown[],
  previous?: { readonly list: readonly unknown[]; readonly entry: ListEntry },
): ListEntry {
  const head = Buffer.from(`${JSON.stringify(key)}:[`);
  const parts: Buffer[] = [head];
  const itemEnds: number[] = [];
  let length = head.length;
  let reused = 0;
  const from = previous ? previous.list.indexOf(list[0]) : -1;
  if (previous && from >= 0) {
    const old = previous.list;
    while (reused < list.length && from + reused < old.length && old[from + reused] === list[reused]) reused++;
    const ends = previous.entry.itemEnds;
    // Item i's bytes start after the `[` or the comma that ends item i-1.
    const start = from === 0 ? head.length : (ends[from - 1] as number) + 1;
    const end = ends[from + reused - 1] as number;
    parts.push(previous.entry.bytes.subarray(start, end));
    for (let i = from; i < from + reused; i++) itemEnds.push((ends[i] as number) - start + head.length);
    length += end - start;
  }
  for (let i = reused; i < list.length; i++) {
    const item = Buffer.from(`${i > 0 ? "," : ""}${JSON.stringify(list[i]) ?? "null"}`);
    parts.push(item);
    length += item.length;
    itemEnds.push(length);
  }
  parts.push(Buffer.from("]"));
  return { bytes: Buffer.concat(parts, length + 1), itemEnds };
}
