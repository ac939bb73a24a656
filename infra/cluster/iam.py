"""Pure IAM policy documents: service trust policies and IRSA (IAM roles for service accounts)."""

from __future__ import annotations

import json


def service_trust_policy(*services: str) -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": list(services)},
                       "Action": ["sts:AssumeRole", "sts:TagSession"]}],
    })


def irsa_trust_policy(provider_arn: str, issuer_url: str, namespace: str, service_account: str) -> str:
    """Trust for one Kubernetes service account through the cluster's OIDC provider; the `sub` and
    `aud` conditions stop any other service account from assuming the role."""
    issuer = issuer_url.removeprefix("https://")
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                f"{issuer}:aud": "sts.amazonaws.com",
            }},
        }],
    })


def cluster_autoscaler_policy(cluster_name: str) -> str:
    """Least privilege for the cluster-autoscaler: describe everything, change only ASGs tagged as
    belonging to this cluster (upstream cloudprovider/aws README)."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Resource": "*", "Action": [
                "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
                "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
                "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements",
                "eks:DescribeNodegroup"]},
            {"Effect": "Allow", "Resource": "*",
             "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
             "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}}},
        ],
    })


def flow_logs_policy(log_group_arn: str) -> str:
    """What the VPC flow-logs service may do: write streams of its own log group, nothing else."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Resource": [log_group_arn, f"{log_group_arn}:*"],
                       "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]}],
    })


def account_of(arn: str) -> str:
    """The account field of an ARN (arn:partition:service:region:account:resource)."""
    return arn.split(":")[4]


def cluster_key_policy(key_account: str, region: str, cluster_name: str) -> str:
    """The cluster KMS key's policy: the account administers it (the default policy), and CloudWatch Logs
    may use it only for this cluster's control-plane log group and the stack's other log groups in the
    same account and region (the encryption context names the log group)."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Account", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{key_account}:root"},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "CloudWatchLogs", "Effect": "Allow", "Principal": {"Service": f"logs.{region}.amazonaws.com"},
             "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
             "Resource": "*",
             "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                       f"arn:aws:logs:{region}:{key_account}:log-group:*"}}},
        ],
    })


def hybrid_node_trust_policy(account: str, region: str) -> str:
    """Trust of the hybrid-node role: SSM hybrid activations of this account and region only (the
    confused-deputy conditions of the EKS hybrid nodes credentials guide)."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "ssm.amazonaws.com"}, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": account},
                          "ArnEquals": {"aws:SourceArn": f"arn:aws:ssm:{region}:{account}:*"}},
        }],
    })


def hybrid_node_policy(cluster_arn: str) -> str:
    """What nodeadm on a hybrid node needs beyond the managed SSM/ECR policies: read its cluster
    (`nodeadm init`) and deregister its SSM managed instance (`nodeadm uninstall`)."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "eks:DescribeCluster", "Resource": cluster_arn},
            {"Effect": "Allow", "Action": ["ssm:DeregisterManagedInstance", "ssm:DescribeInstanceInformation"],
             "Resource": "*"},
        ],
    })
