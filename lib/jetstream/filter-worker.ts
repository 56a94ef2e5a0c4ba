// The token filter builder's group step (a piscina task, one thread per gateway): a group's bit-sliced partitions
// over its blocks' token hashes. It is JavaScript over every hash of up to 64 MiB of messages in one stretch per
// group; here, below the event loop's priority, publishing does not wait for it.
import { niceThisThread } from '../util/nice'
import { partitionFilters, type Partitions } from './filter-format'

export interface FilterTask { blocks: Uint32Array[] }

niceThisThread()

export default function run (task: FilterTask): Partitions {
  return partitionFilters(task.blocks)
}
