# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """How the HAProxy modules reach its admin socket: the docs of _haproxy.py admin_socket_argument_spec()."""

    DOCUMENTATION = r"""
options:
  socket:
    description:
      - Path of HAProxy's admin unix socket (C(stats socket ... level admin)) on the host running the task,
        usually the load balancer through C(delegate_to).
      - Mutually exclusive with O(admin_host); the default is not used when O(admin_host) is set.
    type: path
    default: /run/haproxy/admin.sock
  admin_host:
    description:
      - Address of HAProxy's TCP admin socket (C(stats socket ipv4@ADDR:PORT level admin)), that is the load
        balancer, not a backend server.
      - The old name O(host) is deprecated and will be removed in 1.0.0 (in community.general.haproxy C(host)
        is the backend server).
    type: str
    aliases: [host]
  admin_port:
    description:
      - Port of HAProxy's TCP admin socket, from V(1) to V(65535). Required with O(admin_host).
      - The old name O(port) is deprecated and will be removed in 1.0.0.
    type: int
    aliases: [port]
  socket_timeout_s:
    description:
      - Seconds one command may take, from connecting to the last byte of the answer (wall time, however
        slowly the answer comes).
      - An answer is read up to 16 MiB, far above what C(show stat) of a large configuration sends; a peer
        that sends more fails the command.
      - The old name O(socket_timeout) is deprecated and will be removed in 1.0.0.
    type: float
    default: 5.0
    aliases: [socket_timeout]
"""

    # The read-only modules (lb_member_info, lb_stats): what they read and that they change nothing; the
    # docs of _haproxy.py read_argument_spec() beside the admin socket's.
    READ = r"""
options:
  backend:
    description:
      - Backends to read. When omitted, every backend.
      - Letters, digits and C(- _ . :) only, as HAProxy allows.
    type: list
    elements: str
    aliases: [backends]
notes:
  - Reads only; C(changed) is always false.
"""
