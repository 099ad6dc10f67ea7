#!/usr/bin/python3
"""A kubelet-like CRI client for tests: each call is one RuntimeService RPC,
made as kubelet makes it, with JSON in (arguments) and JSON out (stdout).

  cri.py --sock S runp POD_JSON                 -> {"id": POD_ID}
  cri.py --sock S create POD_ID CTR_JSON POD_JSON -> {"id": CONTAINER_ID}
  cri.py --sock S start|rm|stopp|rmp ID
  cri.py --sock S stop ID [--timeout SECONDS]   (kubelet's grace period)
  cri.py --sock S ps [--pod POD_ID] [--state running|exited|created|unknown]
  cri.py --sock S pods [--state ready|notready]
  cri.py --sock S inspect ID | inspectp POD_ID  (verbose: with "info")
  cri.py --sock S exec ID [--timeout S] -- CMD... (ExecSync)
  cri.py --sock S checkpoint ID PATH [--timeout S]
  cri.py --sock S version

A JSON argument is inline text or @FILE.  POD_JSON: {"namespace", "name",
"uid", "attempt", "annotations", "labels", "hostname", "log_directory",
"cgroup_parent" (default $CRI_CGROUP_ROOT/pod<uid>, CRI_CGROUP_ROOT being
/kubepods/besteffort by default, as kubelet's cgroupfs driver names it), "network": "node" (default: host network, no
CNI) | "pod"}.  CTR_JSON: {"name", "attempt", "image", "command", "args",
"working_dir", "env": {K: V}, "annotations", "labels", "log_path",
"mounts": [{"host_path", "container_path", "readonly"}]}.  CreateContainer
gets the pod's config again, as kubelet sends it: pass the same POD_JSON.

The generated api_pb2 comes from scripts/fetch-containerd2.sh (build/cri-py;
found next to this repo's build dir or through CRI_PY / PYTHONPATH).
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("CRI_PY", os.path.join(HERE, "..", "..", "build", "cri-py")))

import grpc  # noqa: E402
from google.protobuf import json_format  # noqa: E402

import api_pb2 as pb  # noqa: E402

SERVICE = "/runtime.v1.RuntimeService/"
# What kubelet passes as the pod's namespace modes: NODE = the host's.
NS_MODE = {"pod": pb.POD, "node": pb.NODE, "container": pb.CONTAINER}
CTR_STATE = {"created": pb.CONTAINER_CREATED, "running": pb.CONTAINER_RUNNING,
             "exited": pb.CONTAINER_EXITED, "unknown": pb.CONTAINER_UNKNOWN}
POD_STATE = {"ready": pb.SANDBOX_READY, "notready": pb.SANDBOX_NOTREADY}


def load(text):
    if text.startswith("@"):
        with open(text[1:], encoding="utf-8") as f:
            return json.load(f)
    return json.loads(text)


def pod_config(p):
    uid = p.get("uid", "")
    cfg = pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name=p["name"], namespace=p.get("namespace", "default"),
                                       uid=uid, attempt=int(p.get("attempt", 0))),
        # kubelet names the host only of a pod with its own network (runc
        # refuses a hostname without a UTS namespace).
        hostname=p.get("hostname", "" if p.get("network", "node") == "node" else p["name"]),
        log_directory=p.get("log_directory", ""),
        labels=p.get("labels", {}),
        annotations=p.get("annotations", {}))
    lx = cfg.linux
    root = os.environ.get("CRI_CGROUP_ROOT", "/kubepods/besteffort")
    lx.cgroup_parent = p.get("cgroup_parent", root + "/pod" + uid if uid else "")
    ns = lx.security_context.namespace_options
    ns.network = NS_MODE[p.get("network", "node")]
    ns.pid = pb.CONTAINER
    ns.ipc = pb.POD
    return cfg


def container_config(c):
    cfg = pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name=c["name"], attempt=int(c.get("attempt", 0))),
        image=pb.ImageSpec(image=c["image"]),
        command=c.get("command", []),
        args=c.get("args", []),
        working_dir=c.get("working_dir", ""),
        labels=c.get("labels", {}),
        annotations=c.get("annotations", {}),
        log_path=c.get("log_path", ""))
    for k, v in c.get("env", {}).items():
        # KeyValue.value is bytes in this api.proto.
        cfg.envs.add(key=k, value=str(v).encode())
    for m in c.get("mounts", []):
        cfg.mounts.add(host_path=m["host_path"], container_path=m["container_path"],
                       readonly=bool(m.get("readonly", False)))
    cfg.linux.security_context.namespace_options.pid = pb.CONTAINER
    return cfg


class Client:
    def __init__(self, sock, timeout):
        self.channel = grpc.insecure_channel("unix://" + os.path.abspath(sock))
        self.timeout = timeout

    def call(self, method, request, response_type, timeout=None):
        rpc = self.channel.unary_unary(SERVICE + method,
                                       request_serializer=request.__class__.SerializeToString,
                                       response_deserializer=response_type.FromString)
        return rpc(request, timeout=timeout or self.timeout)


def out(msg):
    d = json_format.MessageToDict(msg, preserving_proto_field_name=True)
    # Verbose answers carry JSON documents as strings: shown as JSON.
    for k, v in d.get("info", {}).items():
        try:
            d["info"][k] = json.loads(v)
        except ValueError:
            pass
    print(json.dumps(d, indent=1, sort_keys=True))


def run(a, cl):
    cmd = a.cmd
    if cmd == "version":
        out(cl.call("Version", pb.VersionRequest(version="v1"), pb.VersionResponse))
    elif cmd == "runp":
        r = cl.call("RunPodSandbox", pb.RunPodSandboxRequest(config=pod_config(load(a.args[0])),
                                                             runtime_handler=a.handler),
                    pb.RunPodSandboxResponse)
        print(json.dumps({"id": r.pod_sandbox_id}))
    elif cmd == "create":
        req = pb.CreateContainerRequest(pod_sandbox_id=a.args[0],
                                        config=container_config(load(a.args[1])),
                                        sandbox_config=pod_config(load(a.args[2])))
        r = cl.call("CreateContainer", req, pb.CreateContainerResponse)
        print(json.dumps({"id": r.container_id}))
    elif cmd == "start":
        out(cl.call("StartContainer", pb.StartContainerRequest(container_id=a.args[0]),
                    pb.StartContainerResponse))
    elif cmd == "stop":
        # kubelet's deadline: the grace period plus its own margin.
        out(cl.call("StopContainer", pb.StopContainerRequest(container_id=a.args[0],
                                                             timeout=a.stop_timeout),
                    pb.StopContainerResponse, timeout=max(cl.timeout, a.stop_timeout + 120)))
    elif cmd == "rm":
        out(cl.call("RemoveContainer", pb.RemoveContainerRequest(container_id=a.args[0]),
                    pb.RemoveContainerResponse))
    elif cmd == "stopp":
        out(cl.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=a.args[0]),
                    pb.StopPodSandboxResponse))
    elif cmd == "rmp":
        out(cl.call("RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=a.args[0]),
                    pb.RemovePodSandboxResponse))
    elif cmd == "ps":
        f = pb.ContainerFilter(pod_sandbox_id=a.pod or "")
        if a.state:
            f.state.state = CTR_STATE[a.state]
        out(cl.call("ListContainers", pb.ListContainersRequest(filter=f), pb.ListContainersResponse))
    elif cmd == "pods":
        f = pb.PodSandboxFilter()
        if a.state:
            f.state.state = POD_STATE[a.state]
        out(cl.call("ListPodSandbox", pb.ListPodSandboxRequest(filter=f), pb.ListPodSandboxResponse))
    elif cmd == "inspect":
        out(cl.call("ContainerStatus", pb.ContainerStatusRequest(container_id=a.args[0], verbose=True),
                    pb.ContainerStatusResponse))
    elif cmd == "inspectp":
        out(cl.call("PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=a.args[0],
                                                                   verbose=True),
                    pb.PodSandboxStatusResponse))
    elif cmd == "exec":
        r = cl.call("ExecSync", pb.ExecSyncRequest(container_id=a.args[0], cmd=a.args[1:],
                                                   timeout=a.stop_timeout),
                    pb.ExecSyncResponse)
        sys.stdout.write(r.stdout.decode(errors="replace"))
        sys.stderr.write(r.stderr.decode(errors="replace"))
        return r.exit_code
    elif cmd == "checkpoint":
        out(cl.call("CheckpointContainer", pb.CheckpointContainerRequest(
            container_id=a.args[0], location=a.args[1], timeout=a.stop_timeout),
            pb.CheckpointContainerResponse, timeout=max(cl.timeout, a.stop_timeout + 60)))
    else:
        raise SystemExit("cri.py: unknown command " + cmd)
    return 0


NARGS = {"version": 0, "runp": 1, "create": 3, "start": 1, "stop": 1, "rm": 1, "stopp": 1,
         "rmp": 1, "ps": 0, "pods": 0, "inspect": 1, "inspectp": 1, "checkpoint": 2}


def main():
    ap = argparse.ArgumentParser(description="kubelet-like CRI client (JSON in/out)")
    ap.add_argument("--sock", required=True, help="containerd's socket")
    ap.add_argument("--rpc-timeout", type=float, default=300, help="deadline of a call (s)")
    ap.add_argument("--handler", default="", help="RunPodSandbox's runtime_handler")
    ap.add_argument("--timeout", dest="stop_timeout", type=int, default=30,
                    help="stop: grace period; exec/checkpoint: timeout (s)")
    ap.add_argument("--pod", help="ps: only this pod's containers")
    ap.add_argument("--state", help="ps/pods: only in this state")
    ap.add_argument("cmd", choices=sorted(list(NARGS) + ["exec"]))
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()
    want = NARGS.get(a.cmd)
    if (want is not None and len(a.args) != want) or (a.cmd == "exec" and len(a.args) < 2):
        ap.error("%s: wrong number of arguments" % a.cmd)
    try:
        return run(a, Client(a.sock, a.rpc_timeout))
    except grpc.RpcError as e:
        print("cri.py %s: %s: %s" % (a.cmd, e.code().name, e.details()), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
