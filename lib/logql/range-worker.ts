// A scan worker's LogQL task (piscina, in the scan workers' threads): one window of a range aggregation, read where
// it lies in shared memory; its cells go back.
import { niceThisThread } from '../util/nice'
import type { WindowCells } from './cells'
import { evaluateWindow, type WindowTask } from './range-window'

niceThisThread()

export default function run (task: WindowTask): WindowCells {
  return evaluateWindow(task)
}
