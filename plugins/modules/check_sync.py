# Copyright (c) voip.algo developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
module: check_sync
short_description: Send SIP NOTIFY check-sync to Algo IP endpoints so they re-run provisioning
version_added: 1.0.0
author: voip.algo developers (@voip-algo)
description:
  - Sends an out-of-dialog SIP C(NOTIFY) with C(Event) header C(check-sync) (optionally C(;reboot=true)) to one device or to
    a whole fleet at once. An Algo endpoint with provisioning enabled re-fetches its configuration files on
    check-sync and reboots as its check-sync behaviour setting (C(sip.interop.checksync)) says.
  - The request follows RFC 3261 section 8.1.1 (Via with a C(z9hG4bK) branch and C(rport), From tag, Call-ID,
    CSeq, Max-Forwards, Contact, C(Subscription-State) C(terminated), C(Content-Length) C(0)). Responses are matched by
    Via branch, Call-ID and CSeq; provisional responses are ignored.
  - Over UDP the request is retransmitted as a non-INVITE client transaction does (Timer E from O(t1) doubling to
    O(t2)) until a final response or O(timeout) (Timer F, 64*O(t1) by default). TCP and TLS send once and wait up
    to O(timeout).
  - A C(401) or C(407) challenge is answered once with HTTP digest (MD5, with or without C(qop=auth)) using
    O(auth_user) (or O(user)) and O(password); a second challenge fails the target with RV(notified[].error=auth_failed).
  - All targets are handled from one process with non-blocking sockets in one event loop (no process per device);
    O(concurrency) bounds the transactions in flight and O(rate) the new NOTIFYs per second.
  - This is an action plugin. When the task runs with a C(local) connection (C(hosts=localhost),
    C(delegate_to=localhost)) the NOTIFYs leave from the controller; otherwise (for example C(delegate_to) a
    server on the devices' network, reached over C(ssh)) the options are validated on the controller and the same
    code runs there as a module, so the NOTIFYs leave from that server. It needs Python 3.8 or newer there, nothing else.
  - Passwords never appear in the results; the password inside O(targets) is masked in the invocation.
attributes:
  check_mode:
    support: full
    description: Nothing is sent; RV(notified[].request) shows each NOTIFY that would be sent.
  diff_mode:
    support: none
    description: Nothing on disk changes.
  action:
    support: full
    description: Runs on the controller for C(local) connections, as a module on the target otherwise.
  async:
    support: none
    description: Not supported.
  platform:
    platforms: posix
    support: full
    description: Runs on POSIX systems with Python 3.8 or newer.
options:
  host:
    description:
      - Address of one device. Mutually exclusive with O(targets); one of them is required.
      - An IPv4 address, an IPv6 address (with or without brackets, for example V(2001:db8::50) or V([2001:db8::50])), or
        a DNS name; never with a port (use O(port)). A name with several addresses (AAAA and A records) is tried
        address by address while one is unreachable, within O(timeout).
    type: str
  port:
    description:
      - SIP port of the device(s). Default of O(targets[].port).
    type: int
    default: 5060
  transport:
    description:
      - Transport. Default of O(targets[].transport).
    type: str
    default: udp
    choices: [udp, tcp, tls]
  user:
    description:
      - SIP user (the device's extension) put into the Request-URI C(sip:<user>@<host>:<port>), From and To.
        Without it the Request-URI is C(sip:<host>:<port>). Default of O(targets[].user).
    type: str
  auth_user:
    description:
      - Digest user name answering a C(401)/C(407) (the device's SIP auth ID). Defaults to O(user).
        Default of O(targets[].auth_user).
    type: str
  password:
    description:
      - Digest password answering a C(401)/C(407) (the device's SIP password). Never returned or logged.
        Default of O(targets[].password).
    type: str
  name:
    description:
      - A label for the device of O(host) (for example its MAC), copied to RV(notified[].name).
    type: str
  targets:
    description:
      - Many devices at once. Keys left out take the task-level option of the same name.
      - Build it from the devices of an account with the P(voip.algo.check_sync_targets#filter) filter.
      - An empty list sends nothing and is not an error.
    type: list
    elements: dict
    suboptions:
      host:
        description: Address of the device, as O(host).
        type: str
        required: true
      port:
        description: SIP port; defaults to O(port).
        type: int
      transport:
        description: Transport; defaults to O(transport).
        type: str
        choices: [udp, tcp, tls]
      user:
        description: SIP user (extension); defaults to O(user).
        type: str
      auth_user:
        description: Digest user name; defaults to O(auth_user), then to the target's user.
        type: str
      password:
        description: Digest password; defaults to O(password). Masked in the invocation, never returned.
        type: str
      name:
        description: Label copied to the result (for example the MAC).
        type: str
      reboot:
        description: Per-target O(reboot).
        type: bool
  reboot:
    description:
      - Send C(Event) header C(check-sync;reboot=true) instead of C(Event) header C(check-sync).
    type: bool
    default: false
  timeout:
    description:
      - Seconds to wait for a final response per SIP transaction (RFC 3261 Timer F). Defaults to 64 * O(t1).
    type: float
  t1:
    description:
      - RFC 3261 T1 in seconds (round-trip estimate); first retransmission interval over UDP.
    type: float
    default: 0.5
  t2:
    description:
      - RFC 3261 T2 in seconds; the retransmission interval never grows above it.
    type: float
    default: 4.0
  concurrency:
    description:
      - Transactions in flight at once (one socket each). Lowered automatically if the open-files limit is too small.
    type: int
    default: 100
  rate:
    description:
      - New NOTIFYs per second at most (retransmissions excluded), to avoid a reboot storm or a NAT/SBC ban.
        V(0) means unlimited.
    type: float
    default: 0
  fail_on:
    description:
      - When the task fails. V(any) fails if any target failed, V(all) only if every target failed, V(none) never.
    type: str
    default: any
    choices: [any, all, none]
  validate_certs:
    description:
      - For O(transport=tls), verify the device certificate and its name (the target's host).
    type: bool
    default: true
  ca_path:
    description:
      - CA bundle file, or a hashed CA directory, to verify TLS certificates with instead of the system store.
    type: path
  source_address:
    description:
      - Local address to send from (multi-homed servers). The port is always chosen by the system.
    type: str
seealso:
  - module: voip.algo.provisioning_files
  - plugin: voip.algo.check_sync_targets
    plugin_type: filter
notes:
  - The devices must have provisioning enabled; check-sync is ignored otherwise (guide section 6).
  - Whether a device reboots depends on its C(sip.interop.checksync) setting (C(conditional-reboot) or
    C(always-reboot)); use O(reboot=true) to ask for a reboot.
"""

EXAMPLES = r"""
- name: Resync one device
  voip.algo.check_sync:
    host: 192.0.2.50
    user: "1001"
    password: "{{ vault_sip_password }}"

- name: Resync every device whose files changed, 50 per second, from the provisioning server
  voip.algo.check_sync:
    targets: "{{ account.devices | voip.algo.check_sync_targets(only=render.changed_devices) }}"
    rate: 50
  delegate_to: provisioning.example.com

- name: Reboot a fleet over TLS, verify against a private CA, never fail the play
  voip.algo.check_sync:
    targets:
      - host: 192.0.2.50
        user: "1001"
      - host: 192.0.2.51
        user: "1002"
    transport: tls
    port: 5061
    ca_path: /etc/ssl/private-ca.pem
    reboot: true
    fail_on: none
  register: sync

- name: Show devices that did not answer
  ansible.builtin.debug:
    msg: "{{ sync.notified | rejectattr('ok') | map(attribute='host') | list }}"
"""

RETURN = r"""
notified:
  description: One entry per target, in order. Never contains a password.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The target's O(targets[].name).
      type: str
      sample: 0022EE010203
    host:
      description: Device address.
      type: str
      sample: 192.0.2.50
    port:
      description: Device port.
      type: int
      sample: 5060
    user:
      description: SIP user of the Request-URI.
      type: str
      sample: "1001"
    transport:
      description: Transport used.
      type: str
      sample: udp
    status:
      description: Status code of the final response; null when there was none (and in check mode).
      type: int
      sample: 200
    reason:
      description: Reason phrase of the final response.
      type: str
      sample: OK
    attempts:
      description: NOTIFYs transmitted, retransmissions and the authenticated retry included.
      type: int
      sample: 1
    elapsed:
      description: Seconds from the first transmission to the outcome.
      type: float
      sample: 0.004
    ok:
      description: Whether a 2xx final response came back; null in check mode.
      type: bool
      sample: true
    error:
      description:
        - Class of failure, null on success. V(timeout) (no final response), V(unreachable) (ICMP port
          unreachable, TCP refused, TLS failure, name not resolved), V(rejected) (a non-2xx final response other than a
          challenge), V(auth_failed) (challenged again after the credentials, or challenged without a password).
      type: str
      sample: null
    msg:
      description: What happened, in words.
      type: str
      sample: 200 OK
    request:
      description: In check mode only, the NOTIFY that would be sent (branch, tag and Call-ID are placeholders).
      type: str
      returned: check mode
      sample: "NOTIFY sip:1001@192.0.2.50:5060 SIP/2.0\r\n..."
counts:
  description: Totals.
  returned: always
  type: dict
  contains:
    total:
      description: Targets.
      type: int
      sample: 1000
    ok:
      description: Targets that answered 2xx.
      type: int
      sample: 998
    failed:
      description: Targets that did not (always 0 in check mode).
      type: int
      sample: 2
  sample: {"total": 1000, "ok": 998, "failed": 2}
elapsed:
  description: Seconds for the whole task.
  returned: when something was sent
  type: float
  sample: 0.41
msg:
  description: Summary; names the first failed targets.
  returned: always
  type: str
  sample: 1000 of 1000 device(s) acknowledged check-sync
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.voip.algo.plugins.module_utils._check_sync import ARGUMENT_SPEC, MUTUALLY_EXCLUSIVE, run_check_sync
from ansible_collections.voip.algo.plugins.module_utils._errors import AlgoValidationError


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, mutually_exclusive=MUTUALLY_EXCLUSIVE,
                           required_one_of=[("host", "targets")], supports_check_mode=True)
    try:
        result = run_check_sync(module.params, check_mode=module.check_mode)
    except AlgoValidationError as exc:
        result = {"failed": True, "msg": str(exc), "problems": list(exc.problems), "warnings": []}
    # failing outside the except block: bad input gets a plain message, no traceback / exception field
    for warning in result.pop("warnings"):
        module.warn(warning)
    if result.pop("failed"):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
