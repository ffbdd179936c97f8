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
 * encoded, of `previous.list`) holds in the same order is decoded from its bytes; the rest is
 * encoded. Made as one string and encoded once: a Buffer.concat of the pieces peaked 10 to 40 MiB
 * higher in two runs of a 20,000-object store.
 */
export function encodeListEntry(
  key: string,
  list: readonly unknown[],
  previous?: { readonly list: readonly unknown[]; readonly entry: ListEntry },
): ListEntry {
  const head = `${JSON.stringify(key)}:[`;
  const headBytes = Buffer.byteLength(head);
  let text = head;
  const itemEnds: number[] = [];
  let length = headBytes;
  let reused = 0;
  const from = previous && list.length > 0 ? previous.list.indexOf(list[0]) : -1;
  if (previous && from >= 0) {
    const old = previous.list;
    while (reused < list.length && from + reused < old.length && old[from + reused] === list[reused]) reused++;
    const ends = previous.entry.itemEnds;
    // Item i's bytes start after the `[` or the comma that ends item i-1.
    const start = from === 0 ? headBytes : (ends[from - 1] as number) + 1;
    const end = ends[from + reused - 1] as number;
    text += previous.entry.bytes.toString("utf8", start, end);
    for (let i = from; i < from + reused; i++) itemEnds.push((ends[i] as number) - start + headBytes);
    length += end - start;
  }
  for (let i = reused; i < list.length; i++) {
    const item = `${i > 0 ? "," : ""}${JSON.stringify(list[i]) ?? "null"}`;
    text += item;
    length += Buffer.byteLength(item);
    itemEnds.push(length);
  }
  return { bytes: Buffer.from(`${text}]`), itemEnds };
}
