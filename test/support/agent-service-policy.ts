// Where the consumer agent's optional Service policy lives (one name for the tests that apply or compare it).
export const SERVICE_POLICY_FILE = 'deploy/lb-consumer-cluster/optional/agent-service-policy.yaml';
