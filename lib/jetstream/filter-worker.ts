// The token filter builder's CPU work (a piscina task, one thread per gateway): a block's token hashes, and a
// group's bit-sliced partitions. On the gateway's event loop these held up publishing: tokenizing 256 KiB per
// block and slicing a group's partitions (up to 64 MiB of messages) at once. Here they run below the loop's
// priority, so at the ingest ceiling the filters lag (held bytes, then unindexed reads) instead of ingest.
import { Piscina } from 'piscina'
import { niceThisThread } from '../util/nice'
import { tokenizer } from '../store/tokenizer'
import { LEVEL_HASHES, LEVEL_OF } from '../store/levels'
import { partitionFilters } from './filter-format'

/** `tokens`: the distinct token hashes of a block's bytes (pieces as the tokenizer takes them); `partitions`. */
export type FilterTask =
  | { kind: 'tokens', data: ArrayBuffer, pieces: Int32Array }
  | { kind: 'partitions', blocks: Uint32Array[] }

niceThisThread()

export default function run (task: FilterTask): unknown {
  if (task.kind === 'partitions') return partitionFilters(task.blocks)
  // Handed back, not copied: the hashes are an array of their own (the tokenizer's), of tens of KiB per block.
  return Piscina.move(tokenizer().blockTokens(new Uint8Array(task.data), task.pieces, LEVEL_HASHES, LEVEL_OF).hashes)
}
