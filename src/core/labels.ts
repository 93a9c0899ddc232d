// Kubernetes label selectors (metav1.LabelSelector semantics), pure. Shared by every program that selects
// objects by labels: pools, nodes, services.
import type { LabelSelector } from '../api/v1alpha1.ts';

/**
 * True when `labels` satisfy `selector`. As in Kubernetes: an unset selector here means "everything" (callers
 * that want "nothing" for unset must check that themselves), an empty selector matches everything, and all
 * matchLabels and matchExpressions must hold.
 */
export function matchesSelector(
  selector: LabelSelector | undefined,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  if (!selector) return true;
  const have = labels ?? {};
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (have[key] !== value) return false;
  }
  for (const req of selector.matchExpressions ?? []) {
    const present = Object.hasOwn(have, req.key);
    const values = req.values ?? [];
    switch (req.operator) {
      case 'In':
        if (!present || !values.includes(have[req.key]!)) return false;
        break;
      case 'NotIn':
        if (present && values.includes(have[req.key]!)) return false;
        break;
      case 'Exists':
        if (!present) return false;
        break;
      case 'DoesNotExist':
        if (present) return false;
        break;
      default:
        // An operator this code does not know cannot be satisfied; failing closed avoids selecting too much.
        return false;
    }
  }
  return true;
}
