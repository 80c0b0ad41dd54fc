"""The other nodes of a fleet, for `wcs-agent fleet` and the metrics tests.

Each node is a moto EC2 instance whose private address is a loopback address
(127.0.0.2, 127.0.0.3, ...: moto accepts a VPC and subnet in 127.0.0.0/16),
registered in the seeded target group, listed by the Auto Scaling endpoint
with its lifecycle state, and served by its own fake stats page (wcs.py's
StatsServer) on that address and one common port.  So the agent's
fleet.stats_url template http://{private_ip}:PORT/?action=stat reaches each
node's own page, and a hanging page hangs only that node.

    nodes = FleetNodes(aws_twin, [
        {"fields": {"connections": "40"}},
        {"fields": {"connections": "5"}, "lifecycle": "Terminating:Wait"},
        {"hang": True, "tags": {"wcs-agent:result": "failed at secrets: AccessDenied"}},
    ]).start()
    nodes.stats_url   # the template for fleet.stats_url
    nodes.ids         # the instance ids, in order
    nodes.add_to_endpoint()   # again after aws_twin.reset() (the endpoint forgets them)
    nodes.stop()

Loopback only: every address is in 127.0.0.0/8.
"""

import ipaddress
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import wcs  # noqa: E402

VPC_CIDR = "127.0.0.0/16"
SUBNET_CIDR = "127.0.0.0/24"
FIRST_HOST = 2


class NodeStatsServer(wcs.StatsServer):
    """wcs.StatsServer on another loopback address (127.0.0.0/8 only)."""

    def __init__(self, host, **kw):
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError("fleet nodes: refusing to bind %r: loopback only" % host)
        super().__init__(host="127.0.0.1", **kw)
        self.host = host


def common_port(hosts):
    """A port free on every host a moment ago."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind((hosts[0], 0))
            port = s.getsockname()[1]
        ok = True
        for h in hosts[1:]:
            with socket.socket() as s:
                try:
                    s.bind((h, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return port
    raise RuntimeError("no port free on %s" % ", ".join(hosts))


class FleetNodes:
    def __init__(self, aws_twin, specs):
        self.aws = aws_twin
        self.specs = [dict(s) for s in specs]
        self.ids = []
        self.hosts = ["127.0.0.%d" % (FIRST_HOST + i) for i in range(len(self.specs))]
        self.servers = []
        self.port = None

    @property
    def stats_url(self):
        return "http://{private_ip}:%d/?action=stat" % self.port

    def start(self):
        s = self.aws.seeded
        ec2 = self.aws.client("ec2", credentials="user")
        elbv2 = self.aws.client("elbv2", credentials="user")
        vpc = ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]
        subnet = ec2.create_subnet(
            VpcId=vpc["VpcId"], CidrBlock=SUBNET_CIDR, AvailabilityZone=s["availability_zone"]
        )["Subnet"]
        for host, spec in zip(self.hosts, self.specs):
            tags = {"Name": "wcs node %s" % host, "aws:autoscaling:groupName": s["asg_name"]}
            tags.update(spec.get("tags", {}))
            r = ec2.run_instances(
                ImageId=s["ami_id"],
                MinCount=1,
                MaxCount=1,
                InstanceType=s["instance_type"],
                SubnetId=subnet["SubnetId"],
                PrivateIpAddress=host,
                TagSpecifications=[
                    {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
                ],
            )
            iid = r["Instances"][0]["InstanceId"]
            if r["Instances"][0]["PrivateIpAddress"] != host:
                raise RuntimeError("moto gave %s, not %s" % (r["Instances"][0]["PrivateIpAddress"], host))
            self.ids.append(iid)
        elbv2.register_targets(
            TargetGroupArn=s["target_group_arn"], Targets=[{"Id": i, "Port": 8080} for i in self.ids]
        )
        self.port = common_port(self.hosts)
        try:
            for host, spec in zip(self.hosts, self.specs):
                kw = {"fields": spec.get("fields", {})}
                if spec.get("hang"):
                    kw.update(mode="never", not_ready="hang", hang_ms=30000)
                srv = NodeStatsServer(host, port=self.port, **kw)
                srv.start()
                self.servers.append(srv)
        except BaseException:
            self.stop()
            raise
        self.add_to_endpoint()
        return self

    def add_to_endpoint(self):
        s = self.aws.seeded
        for iid, spec in zip(self.ids, self.specs):
            self.aws.endpoint.add_instance(
                s["asg_name"],
                iid,
                instance_type=s["instance_type"],
                availability_zone=s["availability_zone"],
                lifecycle_state=spec.get("lifecycle", "InService"),
            )

    def stop(self):
        for srv in self.servers:
            srv.stop()
        self.servers = []
