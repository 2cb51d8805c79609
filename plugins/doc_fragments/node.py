# Copyright: (c) 2026, beamops.deploy contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """How the node modules name a running node and find its cookie: the docs of _dist.py node_argument_spec()."""

    DOCUMENTATION = r"""
options:
  node_name:
    description:
      - Full name of the node (V(name@host)).
      - By default the name the release's own start script gives the node. For a relx release, the
        C(-sname) or C(-name) of the C(vm.args) it boots with (C(<root>/vm.args) or
        C(releases/<vsn>/vm.args), which relx writes from C(vm.args.src) at every start), with the
        short or the fully qualified host name added when it has no host. For a mix release,
        C(RELEASE_NODE) and C(RELEASE_DISTRIBUTION) as C(releases/<vsn>/env.sh) sets them literally,
        else the defaults V(<name>@<short host>) with short names.
      - A name that only the start script can compute (a C(${VAR}) in C(vm.args.src), a command in
        C(env.sh)) makes the module fail and ask for this option.
    type: str
  cookie:
    description:
      - The node's Erlang cookie. Only this cookie is tried.
      - Prefer O(cookie_file). Either way the cookie never appears in a command line or an
        environment.
    type: str
  cookie_file:
    description:
      - A file holding the node's cookie (read by the task's user). Only this cookie is tried.
    type: path
notes:
  - >-
    Cookie discovery, when neither O(cookie) nor O(cookie_file) is given, tries in order:
    C(RELEASE_COOKIE) set literally in the release's C(releases/<vsn>/env.sh) (mix), the release's
    C(releases/COOKIE) (mix; tried last when C(env.sh) sets C(RELEASE_COOKIE) some other way,
    since the start script then ignores the file), C(-setcookie) in the C(vm.args) the release boots
    with (relx), and C(~/.erlang.cookie) of the user the task runs as (P(beamops.deploy.release_info#module) and
    P(beamops.deploy.cold_upgrade#module) run as root take the one of the user the release runs as, their
    C(node_user) option). The first cookie the node
    accepts is used; the result's C(cookie_source) names it (V(cookie), V(cookie_file), V(env_sh),
    V(release_cookie_file), V(vm_args) or V(user_cookie_file)), never its value.
  - >-
    How the node is reached: the module first asks epmd on the node's host (port 4369, or
    E(ERL_EPMD_PORT)) whether the node is registered, and says why the node cannot be reached
    (epmd silent, name unknown to epmd, every cookie refused) with the name and cookie sources tried.
    It then connects to the node itself, as a hidden node speaking the Erlang distribution protocol
    over TCP (OTP 23 or later), and has its questions evaluated there: no Erlang VM is started for them.
  - >-
    A node that is not reached that way (distribution over TLS or another carrier, no epmd, an older
    OTP) is asked from a hidden Erlang node started with the release's own ERTS, which runs with a
    private temporary home directory holding the cookies, removed afterwards. The module never creates
    or changes C(~/.erlang.cookie).
"""

    # The release the modules that act inside a running node work on (hot_upgrade, hot_patch).
    RELEASE_ROOT = r"""
options:
  name:
    description: Name of the release.
    type: str
    required: true
  root:
    description: Deploy root of the application (its C(current) link, or a relx release directory).
    type: path
    required: true
"""
