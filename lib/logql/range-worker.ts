// A scan worker's LogQL task (piscina, in the scan workers' threads): one window of a range aggregation.
import { niceThisThread } from '../query/nice'
import { evaluateWindow } from './range-window'

niceThisThread()

export default evaluateWindow
