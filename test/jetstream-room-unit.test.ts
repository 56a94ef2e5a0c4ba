// How a gateway finds room for a tenant stream (lib/jetstream/room.ts), without a cluster: the sizes it asks for,
// which refusals mean no room, and the warning for account limits that cannot hold one stream.
import t from 'tap'
import { accountWarning, isNoRoom, sizesToTry } from '../lib/jetstream/room'

const GiB = 1024 * 1024 * 1024
const MiB = 1024 * 1024

t.test('sizes tried, refusals that mean no room, account limits', async t => {
  t.same(sizesToTry(10 * GiB, 64 * MiB).map(n => n / MiB), [10240, 5120, 2560, 1280, 640, 320, 160, 80, 64],
    'halvings of --retention-size, then the floor')
  t.same(sizesToTry(32 * MiB, 64 * MiB), [32 * MiB], 'a size under the floor is tried alone')
  t.ok(isNoRoom({ code: 10005, message: 'no suitable peers for placement, insufficient storage' }), 'clustered')
  t.ok(isNoRoom({ code: 10047, message: 'insufficient storage resources available' }), 'single server, account')
  t.notOk(isNoRoom({ code: 10005, message: 'no suitable peers for placement' }), 'too few nodes is not room')
  t.notOk(isNoRoom(new Error('timeout')), 'a timeout is not room')
  const account = (maxStorage: number, perStream: number, used: number): Parameters<typeof accountWarning>[0] => ({
    memory: 0, storage: used, reserved_memory: 0, reserved_storage: used, streams: 0, consumers: 0,
    api: { total: 0, errors: 0 },
    limits: {
      max_memory: -1, max_storage: maxStorage, max_streams: -1, max_consumers: -1, max_ack_pending: -1,
      memory_max_stream_bytes: -1, storage_max_stream_bytes: perStream, max_bytes_required: false,
    },
  })
  t.equal(accountWarning(account(-1, -1, 0), 10 * GiB, 3), null, 'no account limit: nothing to say')
  t.equal(accountWarning(account(40 * GiB, -1, 0), 10 * GiB, 3), null, 'room for a stream on 3 replicas')
  t.match(accountWarning(account(40 * GiB, -1, 20 * GiB), 10 * GiB, 3),
    /--retention-size 10\.0 GiB on 3 replica\(s\) is over what the account can still reserve \(20\.0 GiB\)/)
  t.match(accountWarning(account(-1, GiB, 0), 10 * GiB, 3), /over the account's largest stream \(1\.0 GiB\)/)
})
