/**
 * SIGUSR2's subscription tree dump in Mosquitto's layout. Mosquitto keys its trees by
 * a root entry under which the whole token list hangs again: an ordinary filter's
 * tokens start with "", so `a/b` prints as "" > "" > a > b, and a `$` filter's start
 * with its first level, so `$SYS/x` prints as $SYS > $SYS > x. Roots are printed even
 * when empty: "" and $SYS always (created at start), other `$` roots once used. Shared
 * filters all hang from "" (Mosquitto's tokeniser replaces "$share/<group>" by ""),
 * `$` first levels included.
 */
import type { TreeNode } from './subscription-node.ts';
import type { Subscriber } from './subscription-tree.ts';

const DOLLAR = 0x24;

/** `rootNames`: the normal tree's roots; null for the shared tree, whose only root is "". */
export function dumpTree<S extends Subscriber>(
  root: TreeNode<S>,
  rootNames: ReadonlySet<string> | null,
  lines: string[],
): void {
  for (const rootName of rootNames ?? ['']) {
    lines.push(indent(0) + rootName);
    if (rootName === '') {
      let opened = false;
      for (const child of root.children?.values() ?? []) {
        if (rootNames !== null && child.level.charCodeAt(0) === DOLLAR) continue;
        if (!opened) {
          lines.push(indent(1));
          opened = true;
        }
        dumpNode(child, 2, lines);
      }
    } else {
      const child = root.child(rootName);
      if (child !== undefined) dumpNode(child, 1, lines);
    }
  }
}

function dumpNode<S extends Subscriber>(node: TreeNode<S>, depth: number, lines: string[]): void {
  let line = indent(depth) + node.level;
  for (const entry of node.subscriptions?.slots ?? []) {
    if (entry !== null) line += ` (${entry.subscriber.clientId}, ${entry.options.qos})`;
  }
  lines.push(line);
  for (const child of node.children?.values() ?? []) dumpNode(child, depth + 1, lines);
}

function indent(depth: number): string {
  return ' '.repeat((depth + 2) * 2);
}
