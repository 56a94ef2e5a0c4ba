// A scan worker's LogQL task (piscina, in the scan workers' threads): one window of a range aggregation. The
// window's memory goes back with its cells, for the scan's next read to reuse rather than allocate.
import { move, transferableSymbol, valueSymbol } from 'piscina'
import { niceThisThread } from '../query/nice'
import { evaluateWindow, type WindowDone, type WindowTask } from './range-window'

niceThisThread()

export default function run (task: WindowTask): unknown {
  const done: WindowDone = { cells: evaluateWindow(task), data: task.data }
  return move({ [transferableSymbol]: [task.data], [valueSymbol]: done })
}
