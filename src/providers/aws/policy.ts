/**
 * The IAM policy AirLoft's credentials need on AWS (`airloft aws policy` prints it; the README
 * explains it). Reads are account-wide (AWS's Describe calls take no resource); every create must
 * carry AirLoft's ownership tag, and every change or delete is allowed only on what carries it.
 * Load balancers and target groups are also held to AirLoft's name prefix ("al"); Route 53 has no
 * tag conditions, so its zone actions are limited to hosted zones and changes.
 */
import { LABEL } from "../ownership.js";
import { ROLE_PATH } from "./secrets-role.js";

const OWNED = { Null: { [`aws:ResourceTag/${LABEL.instance}`]: "false" } };
const TAGGED_AT_CREATE = { Null: { [`aws:RequestTag/${LABEL.instance}`]: "false" } };

/** The EC2 calls that create what AirLoft owns: each must tag what it makes. */
const CREATES = [
  "RunInstances",
  "CreateVolume",
  "CreateVpc",
  "CreateSubnet",
  "CreateSecurityGroup",
  "CreateInternetGateway",
  "CreateRouteTable",
];

const ec2 = (actions: readonly string[]) => actions.map((a) => `ec2:${a}`);
const elb = (actions: readonly string[]) => actions.map((a) => `elasticloadbalancing:${a}`);
const ELB_RESOURCES = [
  "arn:aws:elasticloadbalancing:*:*:loadbalancer/app/al*",
  "arn:aws:elasticloadbalancing:*:*:listener/app/al*",
  "arn:aws:elasticloadbalancing:*:*:listener-rule/app/al*",
  "arn:aws:elasticloadbalancing:*:*:targetgroup/al*",
];

export function iamPolicy(): object {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "Read",
        Effect: "Allow",
        Action: [
          ...ec2([
            "DescribeAvailabilityZones",
            "DescribeInstanceTypeOfferings",
            "DescribeInstances",
            "DescribeInternetGateways",
            "DescribeRouteTables",
            "DescribeSecurityGroups",
            "DescribeSubnets",
            "DescribeVolumes",
            "DescribeVpcs",
            "GetConsoleOutput",
          ]),
          ...elb([
            "DescribeListeners",
            "DescribeLoadBalancers",
            "DescribeRules",
            "DescribeTags",
            "DescribeTargetGroups",
            "DescribeTargetHealth",
          ]),
          "route53:ListHostedZonesByName",
          "route53:ListResourceRecordSets",
          "route53:ListTagsForResource",
          // Autoscaling reads instances' CPU and target groups' request counts; it has no resource-level permissions.
          "cloudwatch:GetMetricData",
        ],
        Resource: "*",
      },
      {
        Sid: "AmazonLinux2023Image",
        Effect: "Allow",
        Action: "ssm:GetParameter",
        Resource: "arn:aws:ssm:*::parameter/aws/service/ami-amazon-linux-latest/*",
      },
      {
        Sid: "CreateTagged",
        Effect: "Allow",
        Action: ec2(CREATES),
        Resource: "*",
        Condition: TAGGED_AT_CREATE,
      },
      {
        Sid: "LaunchInto",
        Effect: "Allow",
        Action: "ec2:RunInstances",
        Resource: [
          "arn:aws:ec2:*::image/*",
          "arn:aws:ec2:*:*:subnet/*",
          "arn:aws:ec2:*:*:security-group/*",
          "arn:aws:ec2:*:*:network-interface/*",
        ],
      },
      {
        Sid: "TagOnCreate",
        Effect: "Allow",
        Action: "ec2:CreateTags",
        Resource: "*",
        Condition: {
          StringEquals: {
            "ec2:CreateAction": CREATES,
          },
        },
      },
      {
        Sid: "ChangeOwned",
        Effect: "Allow",
        Action: ec2([
          "TerminateInstances",
          "StartInstances",
          "AttachVolume",
          "DeleteVolume",
          "AuthorizeSecurityGroupIngress",
          "DeleteSecurityGroup",
          "ModifySubnetAttribute",
          "DeleteSubnet",
          "AttachInternetGateway",
          "DetachInternetGateway",
          "DeleteInternetGateway",
          "CreateRoute",
          "AssociateRouteTable",
          "DisassociateRouteTable",
          "DeleteRouteTable",
          "DeleteVpc",
        ]),
        Resource: "*",
        Condition: OWNED,
      },
      {
        Sid: "AttachToOwnedInstance",
        Effect: "Allow",
        Action: "ec2:AttachVolume",
        Resource: "arn:aws:ec2:*:*:instance/*",
        Condition: OWNED,
      },
      {
        Sid: "LoadBalancing",
        Effect: "Allow",
        Action: elb([
          "CreateLoadBalancer",
          "CreateListener",
          "CreateRule",
          "CreateTargetGroup",
          "AddTags",
          "ModifyRule",
          "ModifyTargetGroup",
          "ModifyTargetGroupAttributes",
          "RegisterTargets",
          "DeregisterTargets",
          "DeleteRule",
          "DeleteTargetGroup",
          "DeleteLoadBalancer",
        ]),
        Resource: ELB_RESOURCES,
      },
      {
        Sid: "Dns",
        Effect: "Allow",
        Action: [
          "route53:CreateHostedZone",
          "route53:ChangeResourceRecordSets",
          "route53:ChangeTagsForResource",
          "route53:DeleteHostedZone",
          "route53:GetChange",
        ],
        Resource: ["arn:aws:route53:::hostedzone/*", "arn:aws:route53:::change/*"],
      },
      {
        // Secret values as SecureString parameters below AirLoft's own path (secret-parameters.ts).
        Sid: "SecretParameters",
        Effect: "Allow",
        Action: ["ssm:PutParameter", "ssm:DeleteParameters"],
        Resource: "arn:aws:ssm:*:*:parameter/airloft/*",
      },
      {
        // DescribeParameters takes no resource; it lists names and descriptions (hashes), never values.
        Sid: "ListSecretParameters",
        Effect: "Allow",
        Action: "ssm:DescribeParameters",
        Resource: "*",
      },
      {
        // The instance role of a group with secrets: made, read and removed only under AirLoft's path.
        Sid: "SecretsRole",
        Effect: "Allow",
        Action: [
          "iam:CreateRole",
          "iam:TagRole",
          "iam:PutRolePolicy",
          "iam:DeleteRolePolicy",
          "iam:DeleteRole",
          "iam:CreateInstanceProfile",
          "iam:TagInstanceProfile",
          "iam:GetInstanceProfile",
          "iam:AddRoleToInstanceProfile",
          "iam:RemoveRoleFromInstanceProfile",
          "iam:DeleteInstanceProfile",
        ],
        Resource: [
          `arn:aws:iam::*:role${ROLE_PATH}airloft-secrets-*`,
          `arn:aws:iam::*:instance-profile${ROLE_PATH}airloft-secrets-*`,
        ],
      },
      {
        // RunInstances with the profile passes its role to EC2: only AirLoft's roles, only to EC2.
        Sid: "PassSecretsRole",
        Effect: "Allow",
        Action: "iam:PassRole",
        Resource: `arn:aws:iam::*:role${ROLE_PATH}airloft-secrets-*`,
        Condition: { StringEquals: { "iam:PassedToService": "ec2.amazonaws.com" } },
      },
      {
        Sid: "FirstLoadBalancerInTheAccount",
        Effect: "Allow",
        Action: "iam:CreateServiceLinkedRole",
        Resource: "arn:aws:iam::*:role/aws-service-role/elasticloadbalancing.amazonaws.com/*",
        Condition: { StringEquals: { "iam:AWSServiceName": "elasticloadbalancing.amazonaws.com" } },
      },
    ],
  };
}
