// The CustomResourceDefinitions of kube-lb.io/v1alpha1, and the one source of their shapes: every field, its
// optionality, enum, bounds, default and CEL rules are written here once, as data. From it come
//   - the TypeScript types the programs code against: each schema carries the type of the values it admits
//     (`Typed<T>`, a phantom never set at run time), each kind's type is `TypeOf<>` its CRD (exported at the end),
//     and src/api/v1alpha1.ts names their parts (VIPClaimSpec = VIPClaim['spec'], ...) with type-only imports, so
//     importing the API costs the programs nothing at run time;
//   - deploy/crds/*.yaml, the Helm chart's crds/ and the install bundle (`node scripts/gen-crds.ts`);
//   - docs/crds.md (`node scripts/gen-crd-docs.ts`).
// Adding a field is one edit here plus those two generators; test/unit/api/crds.test.ts and the docs and deploy
// tests fail while the generated files are stale.
//
// Why typed builders of our own rather than TypeBox or types generated from the schemas: the CRD dialect is
// structural OpenAPI with Kubernetes keywords (enum on a typed string, additionalProperties maps, x-kubernetes-*),
// and the YAML is compared byte for byte. TypeBox (1.x) writes enums without `type`, maps as patternProperties
// (which the apiserver refuses) and keys in its own order, so it would need a pass that rewrites its output and
// escape hatches for exactly the shapes used here; json-schema-to-typescript would add a generated file, a
// freshness check and its own naming of nested types. The builders below are the ones the schemas were already
// written with, given types: `obj()` makes the fields named in `required` required and every other one optional
// (a name not among the properties does not compile), `oneOf()` gives a union of its literals, `list()` an array.
// The TypeScript type may be narrower than the schema only at the top of a kind (apiVersion, kind, metadata:
// `Resource` below), which the apiserver fills and checks itself.
//
// What a single object can check lives here (OpenAPI + CEL); rules across objects (pool overlap, tenancy,
// backends outside a tenant's networks) live in src/core/allocation/validate.ts, used by the webhook and the
// allocator alike. Every list and string carries a bound so the apiserver's CEL cost estimate stays in budget.
import {
  GROUP,
  VERSION,
  PLURALS,
  MAX_ADDRESSES_PER_ENTRY,
  BGP_PEER_DEFAULTS,
  WELL_KNOWN_COMMUNITIES,
  BGP_SESSION_STATES,
  BFD_STATUSES,
  type API_VERSION,
  type ObjectMeta,
} from './v1alpha1.ts';

export interface Validation {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: string;
}

export interface Schema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'boolean' | 'number';
  description?: string;
  properties?: Record<string, Schema>;
  required?: readonly string[];
  items?: Schema;
  additionalProperties?: Schema;
  enum?: readonly string[];
  format?: string;
  pattern?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-validations'?: Validation[];
}

declare const admits: unique symbol;

/** Carries, as a type only, the TypeScript type of the values a schema or CRD admits; never set at run time. */
interface Admits<T> {
  readonly [admits]?: T;
}

/** A schema that admits values of type T. */
export type Typed<T> = Schema & Admits<T>;

/** The TypeScript type of what a typed schema or CRD admits. */
export type TypeOf<S extends Admits<unknown>> = S extends Admits<infer T> ? Exclude<T, undefined> : never;

type Fields = Record<string, Typed<unknown>>;

/** Spells out an intersection as one object type, which is what editors and error messages then show. */
type Flat<T> = { [K in keyof T]: T[K] } & {};

/** The object a schema's properties describe: the properties named in R are required, the others optional. */
type ObjectOf<P extends Fields, R extends keyof P> = Flat<
  { [K in R]: TypeOf<P[K]> } & { [K in Exclude<keyof P, R>]?: TypeOf<P[K]> }
>;

/**
 * A kind as the programs see it: what its schema admits under spec and status, with the top narrower than the
 * schema (which leaves apiVersion, kind and metadata to the apiserver): our apiVersion and kind, and metadata,
 * which every object the apiserver returns has.
 */
type Resource<K extends keyof typeof PLURALS, Spec, Status> = {
  apiVersion?: typeof API_VERSION;
  kind?: K;
  metadata: ObjectMeta;
  spec: Spec;
  status?: Status;
};

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'date' | 'boolean' | 'number';
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string };
  spec: {
    group: string;
    names: {
      kind: string;
      listKind: string;
      plural: string;
      singular: string;
      shortNames?: string[];
      categories?: string[];
    };
    scope: 'Namespaced' | 'Cluster';
    versions: Array<{
      name: string;
      served: boolean;
      storage: boolean;
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: PrinterColumn[];
      schema: { openAPIV3Schema: Schema };
    }>;
  };
}

// ---------------------------------------------------------------- building blocks

type Extra = Omit<Schema, 'type' | 'properties' | 'required' | 'items'>;

const str = (description: string, extra: Extra = {}): Typed<string> => ({
  type: 'string',
  description,
  maxLength: 253,
  ...extra,
});
const int = (description: string, extra: Extra = {}): Typed<number> => ({ type: 'integer', description, ...extra });
const bool = (description: string, extra: Extra = {}): Typed<boolean> => ({ type: 'boolean', description, ...extra });
const oneOf = <const V extends string>(description: string, values: readonly V[], extra: Extra = {}): Typed<V> => ({
  type: 'string',
  description,
  enum: values,
  ...extra,
});
const list = <T>(description: string, items: Typed<T>, maxItems: number, extra: Extra = {}): Typed<T[]> => ({
  type: 'array',
  description,
  items,
  maxItems,
  ...extra,
});

/** An object; properties named in `required` must be present, the others are optional. */
function obj<P extends Fields, const R extends keyof P & string = never>(
  description: string,
  properties: P,
  required: readonly R[] = [],
  extra: Extra = {},
): Typed<ObjectOf<P, R>> {
  return { type: 'object', description, properties, ...(required.length ? { required } : {}), ...extra };
}

const stringMap = (description: string, maxProperties: number): Typed<Record<string, string>> => ({
  type: 'object',
  description,
  additionalProperties: { type: 'string', maxLength: 63 },
  maxProperties,
});

const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const dnsLabel = (description: string): Typed<string> =>
  str(description, { maxLength: 63, minLength: 1, pattern: DNS_LABEL });
const dnsSubdomain = (description: string): Typed<string> => str(description, { minLength: 1, pattern: DNS_SUBDOMAIN });
const port = (description: string): Typed<number> => int(description, { minimum: 1, maximum: 65535 });

const ipAddress = (description: string): Typed<string> =>
  str(description, {
    maxLength: 45,
    'x-kubernetes-validations': [
      { rule: 'isIP(self)', messageExpression: "'not an IP address: ' + self", reason: 'FieldValueInvalid' },
    ],
  });

const cidr = (description: string): Typed<string> =>
  str(description, {
    maxLength: 49,
    'x-kubernetes-validations': [
      { rule: 'isCIDR(self)', messageExpression: "'not a CIDR: ' + self", reason: 'FieldValueInvalid' },
      {
        // As a string comparison: CEL's cost estimate for == between CIDR values is unbounded before Kubernetes
        // 1.32, and 1.31 refuses the CRD for it (docs/compatibility.md#the-lb-cluster). So the entry is also
        // written in canonical form (lower-case IPv6), which the message says. (Its canonical form cannot be quoted
        // in the message: string() of a CIDR has no size bound for the estimate either.)
        rule: '!isCIDR(self) || string(cidr(self).masked()) == self',
        messageExpression:
          "'host bits set in ' + self + ', or not in canonical form: write the network address (IPv6 in lower case, zeros compressed)'",
        reason: 'FieldValueInvalid',
      },
    ],
  });

// An inclusive range of one family, "10.0.0.10-10.0.0.20". IPv4 ranges are checked for order here; IPv6 ranges
// are checked by the allocator's validation (CEL has no IPv6 ordering).
const V4 = '[0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}';
const V4_RANGE = `^${V4}-${V4}$`;
// [start, end] of an IPv4 range as numbers (CRD CEL has no cel.bind, so `[x].all(n, ...)` names the pair).
const V4_PAIR =
  "[self.split('-').map(s, s.split('.')).map(o, int(o[0]) * 16777216 + int(o[1]) * 65536 + int(o[2]) * 256 + int(o[3]))]";

const poolAddress = str('A CIDR ("192.0.2.0/24") or an inclusive range of one family ("192.0.2.10-192.0.2.20").', {
  maxLength: 90,
  'x-kubernetes-validations': [
    {
      rule: "self.contains('-') ? (self.split('-').size() == 2 && isIP(self.split('-')[0]) && isIP(self.split('-')[1])) : isCIDR(self)",
      messageExpression:
        "'invalid address ' + self + ': expected a CIDR (192.0.2.0/24) or a range (192.0.2.10-192.0.2.20)'",
      reason: 'FieldValueInvalid',
    },
    {
      rule: "!self.contains('-') || self.split('-').size() != 2 || !isIP(self.split('-')[0]) || !isIP(self.split('-')[1]) || ip(self.split('-')[0]).family() == ip(self.split('-')[1]).family()",
      messageExpression: "'range ' + self + ' mixes IPv4 and IPv6'",
      reason: 'FieldValueInvalid',
    },
    {
      rule: `!self.matches('${V4_RANGE}') || !isIP(self.split('-')[0]) || !isIP(self.split('-')[1]) || ${V4_PAIR}.all(n, n[0] <= n[1])`,
      messageExpression: "'range ' + self + ' is reversed: the first address must not be above the last'",
      reason: 'FieldValueInvalid',
    },
    {
      rule: `!self.matches('${V4_RANGE}') || !isIP(self.split('-')[0]) || !isIP(self.split('-')[1]) || ${V4_PAIR}.all(n, n[1] - n[0] < ${MAX_ADDRESSES_PER_ENTRY})`,
      messageExpression: `'range ' + self + ' holds more than ${MAX_ADDRESSES_PER_ENTRY} addresses'`,
      reason: 'FieldValueInvalid',
    },
    {
      // A string comparison, for Kubernetes 1.31 (see cidr() above).
      rule: "self.contains('-') || !isCIDR(self) || string(cidr(self).masked()) == self",
      messageExpression:
        "'host bits set in ' + self + ', or not in canonical form: write the network address (IPv6 in lower case, zeros compressed)'",
      reason: 'FieldValueInvalid',
    },
    {
      rule: "self.contains('-') || !isCIDR(self) || cidr(self).prefixLength() >= (cidr(self).ip().family() == 4 ? 8 : 104)",
      messageExpression: `'CIDR ' + self + ' is too large: at most ${MAX_ADDRESSES_PER_ENTRY} addresses per entry (IPv4 /8, IPv6 /104)'`,
      reason: 'FieldValueInvalid',
    },
  ],
});

const labelSelector = (description: string) =>
  obj(description, {
    matchLabels: stringMap('Labels that must all match.', 64),
    matchExpressions: list(
      'Requirements that must all hold.',
      obj(
        'A label requirement.',
        {
          key: str('Label key.', { minLength: 1, maxLength: 317 }),
          operator: oneOf('How values are matched.', ['In', 'NotIn', 'Exists', 'DoesNotExist']),
          values: list('Values for In and NotIn.', str('A label value.', { maxLength: 63 }), 64),
        },
        ['key', 'operator'],
        {
          'x-kubernetes-validations': [
            {
              rule: "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0) : (!has(self.values) || size(self.values) == 0)",
              messageExpression:
                "'operator ' + self.operator + (self.operator in ['In', 'NotIn'] ? ' needs values' : ' takes no values')",
              reason: 'FieldValueInvalid',
            },
          ],
        },
      ),
      16,
    ),
  });

/** Which pools' VIPs an announcement or advertisement covers, and from which LB nodes. */
const poolsAndNodes = (verb: string, nodes: string) => ({
  poolSelector: labelSelector(`Pools whose VIPs are ${verb} (by pool labels). Unset: all pools.`),
  nodeSelector: labelSelector(nodes),
});

const conditions = list(
  'Observations of the object, one per type.',
  obj(
    'A status condition (metav1.Condition).',
    {
      type: str('Condition type, e.g. Allocated.', { maxLength: 316 }),
      status: oneOf('True, False or Unknown.', ['True', 'False', 'Unknown']),
      reason: str('Machine-readable reason in CamelCase.', { maxLength: 1024 }),
      message: str('Human-readable details.', { maxLength: 32768 }),
      lastTransitionTime: str('When the status last changed.', { format: 'date-time', maxLength: 64 }),
      observedGeneration: int('Generation of the spec the condition describes.', { minimum: 0 }),
    },
    ['type', 'status', 'reason', 'message', 'lastTransitionTime'],
  ),
  32,
  { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] },
);

function crd<K extends keyof typeof PLURALS, Spec, Status>(
  kind: K,
  scope: 'Namespaced' | 'Cluster',
  shortNames: string[],
  description: string,
  spec: Typed<Spec>,
  status: Typed<Status>,
  columns: PrinterColumn[],
): CustomResourceDefinition & Admits<Resource<K, Spec, Status>> {
  const plural = PLURALS[kind];
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${GROUP}` },
    spec: {
      group: GROUP,
      names: {
        kind,
        listKind: `${kind}List`,
        plural,
        singular: kind.toLowerCase(),
        shortNames,
        categories: ['kube-lb'],
      },
      scope,
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            ...columns,
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: obj(
              description,
              {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec,
                status,
              },
              ['spec'],
            ),
          },
        },
      ],
    },
  };
}

// ---------------------------------------------------------------- the kinds

const vipPool = crd(
  'VIPPool',
  'Cluster',
  ['vpool'],
  'A set of VIPs the allocator hands out to consumer clusters.',
  obj(
    'Which addresses the pool holds and to whom they may go.',
    {
      addresses: list(
        'CIDRs and inclusive ranges; entries must not overlap each other or other pools.',
        poolAddress,
        64,
        { minItems: 1 },
      ),
      autoAssign: bool('Whether claims that name no pool may get addresses from this pool.', { default: true }),
      avoidBuggyIPs: bool('Skip addresses ending in .0 or .255, which some old client stacks mishandle.', {
        default: false,
      }),
      allocateTo: obj('Restricts the pool to some tenants, Service namespaces or Service labels. Unset: everyone.', {
        clusterSelector: labelSelector('ConsumerCluster labels.'),
        namespaces: list('Consumer-side Service namespaces.', dnsLabel('A namespace.'), 64),
        serviceSelector: labelSelector('Consumer-side Service labels.'),
      }),
      priority: int('Among eligible pools, the lowest value is tried first.', {
        minimum: 0,
        maximum: 1_000_000,
        default: 1000,
      }),
    },
    ['addresses'],
  ),
  obj('Observed by the allocator.', {
    capacity: int('Addresses in the pool (after avoidBuggyIPs).', { minimum: 0 }),
    allocated: int('Distinct VIPs handed out from the pool.', { minimum: 0 }),
    conditions,
    observedGeneration: int('Generation the status describes.', { minimum: 0 }),
  }),
  [
    { name: 'Addresses', type: 'string', jsonPath: '.spec.addresses' },
    { name: 'Used', type: 'integer', jsonPath: '.status.allocated' },
    { name: 'Capacity', type: 'integer', jsonPath: '.status.capacity' },
    { name: 'Priority', type: 'integer', jsonPath: '.spec.priority' },
    { name: 'Auto', type: 'boolean', jsonPath: '.spec.autoAssign' },
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
  ],
);

const consumerCluster = crd(
  'ConsumerCluster',
  'Cluster',
  ['ccluster'],
  'A tenant: one consumer Kubernetes cluster whose agent asks for VIPs.',
  obj(
    'Where the tenant writes its claims and what it may have.',
    {
      tenantNamespace: dnsLabel(
        "Namespace of the LB cluster where this tenant's agent writes its VIPClaims; immutable.",
      ),
      allowedBackendCIDRs: list(
        "The consumer's node networks: claim backends must lie inside these.",
        cidr('A CIDR.'),
        64,
        { minItems: 1 },
      ),
      sharedBackendsWith: list(
        "ConsumerClusters whose allowedBackendCIDRs may overlap this one's. An overlap counts as agreed only when both list each other; otherwise the younger tenant gets no backends in the shared addresses.",
        dnsSubdomain('ConsumerCluster name.'),
        64,
        { 'x-kubernetes-list-type': 'set' },
      ),
      maxVIPs: int('Quota on distinct VIPs. Unset: unlimited.', { minimum: 0, maximum: 1_000_000 }),
      poolSelector: labelSelector('Which pools the tenant may use (by pool labels). Unset: all pools.'),
      limits: obj("How much of the LB nodes' maps the tenant's claims may take; each unset field has its default.", {
        portsPerClaim: int('Ports of one claim (each is a frontend on every LB node). Default 64.', {
          minimum: 1,
          maximum: 65_535,
        }),
        backendsPerClaim: int('Backends of one claim. Default 1000.', { minimum: 1, maximum: 100_000 }),
        backendEntries: int(
          "Ports × backends summed over the tenant's claims: the service-map slots they take on every LB node. Default 16384.",
          { minimum: 1, maximum: 10_000_000 },
        ),
      }),
    },
    ['tenantNamespace', 'allowedBackendCIDRs'],
    {
      'x-kubernetes-validations': [
        {
          rule: 'self.tenantNamespace == oldSelf.tenantNamespace',
          message: 'tenantNamespace is immutable: delete and recreate the ConsumerCluster',
          fieldPath: '.tenantNamespace',
        },
      ],
    },
  ),
  obj("Observed by the allocator and the tenant's agent.", {
    claims: int('VIPClaims in the tenant namespace.', { minimum: 0 }),
    vips: int('Distinct VIPs held (counted against maxVIPs).', { minimum: 0 }),
    lastHeartbeatTime: str("When the tenant's agent last reported.", { format: 'date-time', maxLength: 64 }),
    agentVersion: str("Version of the tenant's agent.", { maxLength: 128 }),
    kubernetesVersion: str(
      'Kubernetes version of the consumer cluster, as its agent found it (docs/compatibility.md).',
      { maxLength: 128 },
    ),
    ipModeProxy: bool(
      'Whether the consumer cluster keeps ipMode: Proxy on Services (1.30+). false: its pods and nodes reach VIPs past kube-lb (docs/compatibility.md#ipmode).',
    ),
    conditions,
  }),
  [
    { name: 'Tenant-Namespace', type: 'string', jsonPath: '.spec.tenantNamespace' },
    { name: 'VIPs', type: 'integer', jsonPath: '.status.vips' },
    { name: 'Max', type: 'integer', jsonPath: '.spec.maxVIPs' },
    { name: 'Claims', type: 'integer', jsonPath: '.status.claims' },
    { name: 'Heartbeat', type: 'date', jsonPath: '.status.lastHeartbeatTime' },
    { name: 'Kubernetes', type: 'string', jsonPath: '.status.kubernetesVersion' },
    { name: 'IPMode', type: 'boolean', jsonPath: '.status.ipModeProxy', priority: 1 },
  ],
);

/**
 * The fields the speakers program, as the agent writes them into a claim's spec and as the allocator copies them
 * into status.approved once it accepted them: one schema for both. `ports` of an approval may be empty (a VIP kept
 * reserved for a refused claim).
 */
function programmedFields(portsDescription: string, portsExtra: Extra = {}) {
  return {
    ports: list(
      portsDescription,
      obj(
        'A Service port.',
        {
          name: str('Port name.', { maxLength: 63 }),
          protocol: oneOf('IP protocol.', ['TCP', 'UDP', 'SCTP']),
          port: port('Port on the VIP.'),
          nodePort: port('NodePort on the consumer nodes.'),
        },
        ['protocol', 'port', 'nodePort'],
      ),
      100,
      {
        ...portsExtra,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['port', 'protocol'],
      },
    ),
    backends: list(
      'Consumer nodes that receive the traffic (node IP:NodePort).',
      obj(
        'A consumer node.',
        {
          nodeName: str('Node name.', { minLength: 1 }),
          address: ipAddress('Node InternalIP.'),
          ready: bool('False for nodes that should get no new flows.'),
          zone: str('Topology zone.', { maxLength: 63 }),
        },
        ['nodeName', 'address', 'ready'],
      ),
      5000,
      {
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['address'],
      },
    ),
    externalTrafficPolicy: oneOf('Cluster or Local, as on the Service.', ['Cluster', 'Local']),
    healthCheckNodePort: port('Health-check NodePort of an externalTrafficPolicy: Local Service.'),
    loadBalancerSourceRanges: list('Client CIDRs allowed to reach the VIP. Unset: all.', cidr('A CIDR.'), 64),
    sessionAffinity: obj(
      'Session affinity of the Service.',
      {
        type: oneOf('None or ClientIP.', ['None', 'ClientIP']),
        timeoutSeconds: int('ClientIP affinity timeout.', { minimum: 1, maximum: 86400 }),
      },
      ['type'],
      {
        'x-kubernetes-validations': [
          {
            rule: "!has(self.timeoutSeconds) || self.type == 'ClientIP'",
            message: 'timeoutSeconds is only valid with type ClientIP',
            fieldPath: '.timeoutSeconds',
          },
        ],
      },
    ),
  };
}

const vipClaim = crd(
  'VIPClaim',
  'Namespaced',
  ['vclaim'],
  "One consumer LoadBalancer Service asking for a VIP, written by the tenant's agent in its tenant namespace.",
  obj(
    'The consumer Service as the LB cluster needs to see it.',
    {
      service: obj(
        'The consumer Service this claim stands for.',
        {
          cluster: dnsSubdomain('ConsumerCluster name.'),
          namespace: dnsLabel('Service namespace in the consumer cluster.'),
          name: dnsLabel('Service name.'),
          uid: str('Service UID.', { maxLength: 64, minLength: 1 }),
        },
        ['cluster', 'namespace', 'name', 'uid'],
      ),
      serviceLabels: stringMap("Labels of the consumer Service, for pools' allocateTo.serviceSelector.", 64),
      pool: str('Pool to allocate from. Unset: any eligible pool with autoAssign.', { maxLength: 253 }),
      requestedIPs: list('IPs to request, in order of preference (the first free one wins).', ipAddress('An IP.'), 8, {
        'x-kubernetes-list-type': 'set',
      }),
      sharingKey: str('Claims of one tenant with the same key share a VIP when their ports do not overlap.', {
        maxLength: 253,
        minLength: 1,
      }),
      ...programmedFields('Service ports.', { minItems: 1 }),
    },
    ['service', 'ports', 'backends', 'externalTrafficPolicy'],
    {
      'x-kubernetes-validations': [
        {
          rule: "!has(self.healthCheckNodePort) || self.externalTrafficPolicy == 'Local'",
          message: 'healthCheckNodePort is only valid with externalTrafficPolicy Local',
          fieldPath: '.healthCheckNodePort',
        },
        {
          rule: 'self.service == oldSelf.service',
          message: 'service is immutable: a claim stands for one Service',
          fieldPath: '.service',
        },
      ],
    },
  ),
  obj('Written by the allocator (vip, pool, approved, Allocated) and the speakers (the rest).', {
    vip: str('The allocated VIP.', { maxLength: 45 }),
    pool: str('Pool the VIP came from.'),
    approved: obj(
      'What the allocator accepted, in the same write as Allocated: the speakers program this copy, never the spec, so a spec edited ahead of the allocator changes nothing until it is checked. A VIP kept reserved for a refused claim is recorded with no ports and no backends.',
      {
        generation: int('metadata.generation of the spec this copy comes from.', { minimum: 0 }),
        vip: str('The VIP the allocator gave, its own record of it.', { maxLength: 45 }),
        ...programmedFields('Service ports (empty: nothing to serve).'),
      },
      // ports and backends may be absent: a reservation's empty lists do not survive server-side apply (an empty
      // associative list is no field to the apiserver), and absent means empty to every reader.
      ['generation', 'vip', 'externalTrafficPolicy'],
    ),
    programmedNodes: list('LB nodes whose maps hold this claim.', str('Node name.'), 256, {
      'x-kubernetes-list-type': 'set',
    }),
    announcedBy: str('LB node that answers ARP for the VIP.'),
    backendHealth: list(
      'Backend health as seen from the LB nodes.',
      obj(
        'One backend.',
        {
          address: str('Node InternalIP.', { maxLength: 45 }),
          healthy: bool('Whether the backend passes its checks.'),
          failingFrom: list('LB nodes that see it failing.', str('Node name.'), 256),
        },
        ['address', 'healthy'],
      ),
      5000,
    ),
    conditions,
    observedGeneration: int('Generation the status describes.', { minimum: 0 }),
  }),
  [
    { name: 'VIP', type: 'string', jsonPath: '.status.vip' },
    { name: 'Cluster', type: 'string', jsonPath: '.spec.service.cluster' },
    { name: 'Service', type: 'string', jsonPath: '.spec.service.name' },
    { name: 'Svc-Namespace', type: 'string', jsonPath: '.spec.service.namespace', priority: 1 },
    { name: 'Allocated', type: 'string', jsonPath: '.status.conditions[?(@.type=="Allocated")].reason' },
    { name: 'Programmed', type: 'string', jsonPath: '.status.conditions[?(@.type=="Programmed")].status' },
    { name: 'Announced', type: 'string', jsonPath: '.status.announcedBy' },
    { name: 'Pool', type: 'string', jsonPath: '.status.pool', priority: 1 },
  ],
);

const l2Announcement = crd(
  'L2Announcement',
  'Cluster',
  ['l2a'],
  'Which pools are announced on L2 (ARP), from which LB nodes and interfaces.',
  obj('Pools, nodes and interfaces to announce from.', {
    ...poolsAndNodes('announced', 'LB nodes that may announce. Unset: every LB node running a speaker.'),
    interfaces: list(
      "Interface names, or regular expressions written as /regex/. Unset: the default route's interface.",
      str('An interface name or /regex/.', { minLength: 1, maxLength: 128 }),
      32,
    ),
  }),
  obj('Observed by the speakers.', { conditions }),
  [{ name: 'Interfaces', type: 'string', jsonPath: '.spec.interfaces' }],
);

// ---------------------------------------------------------------- BGP mode (MetalLB's semantics where they fit)

const ASN_MAX = 4_294_967_295;
const HOLD = `(has(self.holdTimeSeconds) ? self.holdTimeSeconds : ${BGP_PEER_DEFAULTS.holdTimeSeconds})`;
const asn = (description: string): Typed<number> => int(description, { minimum: 1, maximum: ASN_MAX });

const COMMUNITY = `^([0-9]{1,5}:[0-9]{1,5}|${WELL_KNOWN_COMMUNITIES.join('|')})$`;
const LARGE_COMMUNITY = '^[0-9]{1,10}:[0-9]{1,10}:[0-9]{1,10}$';

const bgpPeer = crd(
  'BGPPeer',
  'Cluster',
  ['bgpp'],
  'A BGP router the LB nodes open sessions to, to advertise VIPs.',
  obj(
    'The session: both ends, timers, authentication and which LB nodes open it.',
    {
      myASN: asn('AS number the LB nodes use on this session.'),
      peerASN: asn("The router's AS number. Equal to myASN: iBGP; different: eBGP."),
      peerAddress: ipAddress("The router's address (IPv4 or IPv6)."),
      peerPort: int('TCP port of the router.', { minimum: 1, maximum: 65535, default: BGP_PEER_DEFAULTS.peerPort }),
      sourceAddress: ipAddress(
        "Local address of the session, of the peer's family. Unset: chosen by the node's routes.",
      ),
      holdTimeSeconds: int('BGP hold time proposed in OPEN: 0 (no keepalives, no hold timer) or 3 to 65535.', {
        minimum: 0,
        maximum: 65535,
        default: BGP_PEER_DEFAULTS.holdTimeSeconds,
        'x-kubernetes-validations': [
          {
            // A fixed message: the cost estimate of string() on an integer is unbounded.
            rule: 'self == 0 || self >= 3',
            message: 'holdTimeSeconds must be 0 or at least 3',
            reason: 'FieldValueInvalid',
          },
        ],
      }),
      keepaliveTimeSeconds: int('Interval between KEEPALIVEs; below holdTimeSeconds unless that is 0.', {
        minimum: 0,
        maximum: 65535,
        default: BGP_PEER_DEFAULTS.keepaliveTimeSeconds,
      }),
      connectTimeSeconds: int('How long a TCP connection attempt to the router may take. Unset: the speaker default.', {
        minimum: 1,
        maximum: 65535,
      }),
      passwordSecret: obj(
        "TCP MD5 password of the session (RFC 2385): a Secret in the speakers' namespace (kube-lb-system). Unset: no password.",
        {
          name: dnsSubdomain('Secret name.'),
          key: str('Key in the Secret whose value is the password.', {
            minLength: 1,
            pattern: '^[-._a-zA-Z0-9]+$',
            default: 'password',
          }),
        },
        ['name'],
      ),
      ebgpMultiHop: bool('Whether the router may be more than one hop away (eBGP only).', { default: false }),
      nodeSelector: labelSelector('LB nodes that peer. Unset: every LB node.'),
      bfdProfile: dnsSubdomain('Name of a BFDProfile: run BFD on the session with its settings. Unset: no BFD.'),
    },
    ['myASN', 'peerASN', 'peerAddress'],
    {
      'x-kubernetes-validations': [
        {
          // Defaults are applied before the rule runs; the fallbacks cover an object that predates them.
          rule: `${HOLD} == 0 || (has(self.keepaliveTimeSeconds) ? self.keepaliveTimeSeconds : ${BGP_PEER_DEFAULTS.keepaliveTimeSeconds}) < ${HOLD}`,
          message: 'keepaliveTimeSeconds must be below holdTimeSeconds (unless holdTimeSeconds is 0)',
          fieldPath: '.keepaliveTimeSeconds',
          reason: 'FieldValueInvalid',
        },
        {
          rule: '!has(self.ebgpMultiHop) || !self.ebgpMultiHop || self.myASN != self.peerASN',
          message: 'ebgpMultiHop is only allowed for eBGP (myASN different from peerASN)',
          fieldPath: '.ebgpMultiHop',
          reason: 'FieldValueInvalid',
        },
        {
          rule: '!has(self.sourceAddress) || !isIP(self.sourceAddress) || !isIP(self.peerAddress) || ip(self.sourceAddress).family() == ip(self.peerAddress).family()',
          message: 'sourceAddress and peerAddress must be of one family',
          fieldPath: '.sourceAddress',
          reason: 'FieldValueInvalid',
        },
      ],
    },
  ),
  obj('Observed by the speakers.', {
    conditions,
    established: str(
      'LB nodes with an Established session, of the live LB nodes that peer, e.g. 2/3 (the Established condition names the others).',
      { maxLength: 32 },
    ),
    nodes: list(
      'The session as each LB node that peers sees it, one entry per node.',
      obj(
        "One LB node's session with the router.",
        {
          node: str('LB node name.', { minLength: 1 }),
          session: oneOf('BGP session state (RFC 4271 finite state machine), or Unknown.', BGP_SESSION_STATES),
          bfd: oneOf('BFD session state (RFC 5880), or Unknown. Unset: no BFD.', BFD_STATUSES),
          message: str(
            "Why the session is not Established, e.g. the router's NOTIFICATION (bad peer AS, authentication failure).",
            { maxLength: 1024 },
          ),
          since: str('When the session entered its state.', { format: 'date-time', maxLength: 64 }),
          prefixesAdvertised: int('Prefixes this node advertises to the router.', { minimum: 0 }),
        },
        ['node', 'session'],
      ),
      256,
      { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['node'] },
    ),
  }),
  [
    { name: 'Peer', type: 'string', jsonPath: '.spec.peerAddress' },
    { name: 'PeerASN', type: 'integer', jsonPath: '.spec.peerASN' },
    { name: 'MyASN', type: 'integer', jsonPath: '.spec.myASN' },
    { name: 'Established', type: 'string', jsonPath: '.status.established' },
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Established")].status' },
    { name: 'BFD', type: 'string', jsonPath: '.spec.bfdProfile', priority: 1 },
  ],
);

const bgpAdvertisement = crd(
  'BGPAdvertisement',
  'Cluster',
  ['bgpadv'],
  "Which pools' VIPs are advertised over BGP, from which LB nodes, to which peers, with which attributes.",
  obj('Pools, nodes, peers and path attributes.', {
    ...poolsAndNodes('advertised', 'LB nodes that advertise. Unset: every LB node.'),
    peers: list(
      'Names of the BGPPeers to advertise to. Unset or empty: every peer.',
      dnsSubdomain('A BGPPeer name.'),
      64,
      { 'x-kubernetes-list-type': 'set' },
    ),
    aggregationLength: int(
      'Prefix length IPv4 VIPs are advertised with: 32 advertises each VIP, shorter lengths the covering prefix.',
      { minimum: 0, maximum: 32, default: 32 },
    ),
    aggregationLengthV6: int('Prefix length IPv6 VIPs are advertised with.', {
      minimum: 0,
      maximum: 128,
      default: 128,
    }),
    communities: list(
      `BGP communities (RFC 1997) to attach: ASN:VALUE, each part 0 to 65535, or one of ${WELL_KNOWN_COMMUNITIES.join(', ')}.`,
      str('A community.', {
        maxLength: 17,
        pattern: COMMUNITY,
        'x-kubernetes-validations': [
          {
            rule: "!self.matches('^[0-9]+:[0-9]+$') || self.split(':').all(p, int(p) <= 65535)",
            messageExpression: "'community ' + self + ' is out of range: each part of ASN:VALUE is 0 to 65535'",
            reason: 'FieldValueInvalid',
          },
        ],
      }),
      32,
      { 'x-kubernetes-list-type': 'set' },
    ),
    largeCommunities: list(
      'BGP large communities (RFC 8092) to attach: A:B:C, each part 0 to 4294967295.',
      str('A large community.', {
        maxLength: 32,
        pattern: LARGE_COMMUNITY,
        'x-kubernetes-validations': [
          {
            rule: `self.split(':').all(p, int(p) <= ${ASN_MAX})`,
            messageExpression: `'large community ' + self + ' is out of range: each part of A:B:C is 0 to ${ASN_MAX}'`,
            reason: 'FieldValueInvalid',
          },
        ],
      }),
      32,
      { 'x-kubernetes-list-type': 'set' },
    ),
    localPref: int(
      'LOCAL_PREF of the advertised routes. Sent only to iBGP peers (myASN equal to peerASN); eBGP peers never see it.',
      { minimum: 0, maximum: ASN_MAX },
    ),
  }),
  obj('Observed by the speakers.', { conditions }),
  [
    { name: 'Aggregation', type: 'integer', jsonPath: '.spec.aggregationLength' },
    { name: 'LocalPref', type: 'integer', jsonPath: '.spec.localPref' },
    { name: 'Peers', type: 'string', jsonPath: '.spec.peers', priority: 1 },
  ],
);

const bfdInterval = (description: string, def: number): Typed<number> =>
  int(`${description} In milliseconds.`, { minimum: 10, maximum: 60000, default: def });

const bfdProfile = crd(
  'BFDProfile',
  'Cluster',
  ['bfdp'],
  'BFD (RFC 5880) settings that BGPPeers name in spec.bfdProfile, for fast failure detection.',
  obj('Timers and modes of the BFD sessions.', {
    receiveIntervalMs: bfdInterval('Shortest interval between received control packets this end accepts.', 300),
    transmitIntervalMs: bfdInterval('Shortest interval between control packets this end sends.', 300),
    detectMultiplier: int('Control packets missed before the session is declared down.', {
      minimum: 2,
      maximum: 255,
      default: 3,
    }),
    echoMode: bool('Whether to send echo packets (forwarded back by the peer).', { default: false }),
    echoIntervalMs: bfdInterval('Shortest interval between echo packets.', 50),
    passiveMode: bool('Whether to wait for the peer to start the session instead of sending first.', {
      default: false,
    }),
    minimumTtl: int('Lowest TTL accepted on incoming control packets (multi-hop sessions); 254: one hop at most.', {
      minimum: 1,
      maximum: 254,
      default: 254,
    }),
  }),
  obj('Observed by the speakers.', { conditions }),
  [
    { name: 'RX', type: 'integer', jsonPath: '.spec.receiveIntervalMs' },
    { name: 'TX', type: 'integer', jsonPath: '.spec.transmitIntervalMs' },
    { name: 'Multiplier', type: 'integer', jsonPath: '.spec.detectMultiplier' },
  ],
);

export type VIPPool = TypeOf<typeof vipPool>;
export type ConsumerCluster = TypeOf<typeof consumerCluster>;
export type VIPClaim = TypeOf<typeof vipClaim>;
export type L2Announcement = TypeOf<typeof l2Announcement>;
export type BGPPeer = TypeOf<typeof bgpPeer>;
export type BGPAdvertisement = TypeOf<typeof bgpAdvertisement>;
export type BFDProfile = TypeOf<typeof bfdProfile>;

/** Every CRD of the API group, in file order. */
export function customResourceDefinitions(): CustomResourceDefinition[] {
  return [vipPool, consumerCluster, vipClaim, l2Announcement, bgpPeer, bgpAdvertisement, bfdProfile];
}

/** deploy/crds/<group>_<plural>.yaml */
export function crdFileName(c: CustomResourceDefinition): string {
  return `${c.spec.group}_${c.spec.names.plural}.yaml`;
}
