// Peer test: Vates' JavaScript connector (npm `xen-api`, which bootstraps its cache with
// get_all_records and follows changes with event.from) against xapi-labpool.
// Starts the lab pool binary itself (LABPOOL_BIN, default target/debug/xapi-labpool).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createClient } from 'xen-api'

const here = path.dirname(fileURLToPath(import.meta.url))
const bin = process.env.LABPOOL_BIN ?? path.join(here, '..', '..', '..', 'target', 'debug', 'xapi-labpool')

let proc
let url
let xapi

function startPool() {
  return new Promise((resolve, reject) => {
    proc = spawn(bin, ['--listen', '127.0.0.1:0', '--boot-seconds', '0.1'], { stdio: ['ignore', 'pipe', 'inherit'] })
    proc.on('error', reject)
    const rl = createInterface({ input: proc.stdout })
    rl.once('line', line => resolve(line.trim()))
  })
}

function waitFor(pred, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const start = Date.now()
    const tick = () => {
      let v
      try {
        v = pred()
      } catch (e) {
        return reject(e)
      }
      if (v) return resolve(v)
      if (Date.now() - start > timeoutMs) return reject(new Error('timed out'))
      setTimeout(tick, 20)
    }
    tick()
  })
}

const all = type => Object.values(xapi.objects.all).filter(o => o.$type === type)

before(async () => {
  url = await startPool()
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/)
  xapi = createClient({ url, allowUnauthorized: true, auth: { user: 'root', password: 'labpool' } })
  await xapi.connect()
  await xapi.objectsFetched
})

after(async () => {
  await xapi?.disconnect()
  proc?.kill('SIGTERM')
})

test('connects and sees the pool', () => {
  assert.equal(xapi.status, 'connected')
  assert.equal(xapi.pool.$master.name_label, 'lab-host-1')
  assert.equal(all('host').length, 3)
  assert.equal(all('network').length, 2)
})

test('lists VMs and templates from its event-fed cache', () => {
  const vms = all('VM')
  const templates = vms.filter(v => v.is_a_template).map(v => v.name_label)
  assert.ok(templates.includes('Debian Bookworm 12'), templates)
  assert.ok(templates.includes('labpool Windows Server 2022 cloudbase-init'))
  assert.equal(vms.filter(v => v.is_control_domain).length, 3)
  const sr = xapi.pool.$default_SR
  assert.equal(sr.name_label, 'Shared NFS storage')
  // ints are numbers over JSON-RPC
  const debian = vms.find(v => v.name_label === 'Debian Bookworm 12')
  assert.equal(debian.memory_static_max, 1073741824)
})

test('event.from delivers adds, modifications and removals', async () => {
  const template = all('VM').find(v => v.name_label === 'labpool Ubuntu 24.04 cloud-init')
  const ref = await xapi.callAsync('VM.clone', template.$ref, 'js-peer')
  const vm = await waitFor(() => xapi.objects.all[xapi.getObjectByRef(ref, null)?.$id])
  assert.equal(vm.name_label, 'js-peer')
  assert.equal(vm.is_a_template, true)
  await xapi.call('VM.set_name_description', ref, 'seen via event.from')
  await waitFor(() => xapi.getObjectByRef(ref).name_description === 'seen via event.from')
  await xapi.call('VM.provision', ref)
  await xapi.call('VM.start', ref, false, false)
  await waitFor(() => xapi.getObjectByRef(ref).power_state === 'Running')
  await waitFor(() => xapi.getObjectByRef(ref).guest_metrics !== 'OpaqueRef:NULL')
  await xapi.call('VM.hard_shutdown', ref)
  const vdis = xapi.getObjectByRef(ref).$VBDs.filter(b => b.type === 'Disk').map(b => b.VDI)
  await xapi.call('VM.destroy', ref)
  await waitFor(() => xapi.getObjectByRef(ref, null) === null)
  for (const v of vdis) await xapi.call('VDI.destroy', v)
})

test('errors carry XAPI codes and params', async () => {
  await assert.rejects(xapi.call('VM.get_record', 'OpaqueRef:nope'), e => {
    assert.equal(e.code, 'HANDLE_INVALID')
    assert.deepEqual(e.params, ['VM', 'OpaqueRef:nope'])
    return true
  })
})
