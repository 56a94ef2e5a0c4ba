// The token filter builder's group step (a piscina task, one thread per gateway): a group's bit-sliced partitions
// over its blocks' token hashes. On the gateway's event loop, splitting up to 256 blocks' hashes by partition and
// slicing them held publishing up for tens of ms per group; here it runs below the loop's priority.
import { niceThisThread } from '../util/nice'
import { partitionFilters, type Partitions } from './filter-format'

export interface FilterTask { blocks: Uint32Array[] }

niceThisThread()

export default function run (task: FilterTask): Partitions {
  return partitionFilters(task.blocks)
}
