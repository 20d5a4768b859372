//! Cycle detection over the "rule tag → tags its rule reads" graph, so the service can
//! refuse a rule such as `a := has_tag("b")` while `b := has_tag("a")` is live.

use std::collections::HashMap;

/// Returns one cycle as a path that starts and ends on the same tag (`[a, b, a]`; a
/// self-reference is `[a, a]`), or `None`. Deterministic: tags are visited in sorted
/// order. Tags that appear only as targets have no outgoing edges. Iterative, so deep
/// graphs cannot overflow the stack.
pub fn find_cycle(graph: &HashMap<String, Vec<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        OnPath,
        Done,
    }
    let mut marks: HashMap<&str, Mark> = HashMap::new();
    let mut starts: Vec<&str> = graph.keys().map(String::as_str).collect();
    starts.sort_unstable();
    let no_edges: &[String] = &[];
    for start in starts {
        if marks.contains_key(start) {
            continue;
        }
        // Each frame: the tag and the index of its next edge to follow.
        let mut path: Vec<(&str, usize)> = vec![(start, 0)];
        marks.insert(start, Mark::OnPath);
        while let Some((tag, next_edge)) = path.last_mut() {
            let edges = graph.get(*tag).map_or(no_edges, Vec::as_slice);
            let Some(target) = edges.get(*next_edge) else {
                marks.insert(*tag, Mark::Done);
                path.pop();
                continue;
            };
            *next_edge += 1;
            let target = target.as_str();
            match marks.get(target) {
                Some(Mark::Done) => {}
                Some(Mark::OnPath) => {
                    let from = path.iter().position(|(t, _)| *t == target).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        path[from..].iter().map(|(t, _)| (*t).to_owned()).collect();
                    cycle.push(target.to_owned());
                    return Some(cycle);
                }
                None => {
                    marks.insert(target, Mark::OnPath);
                    path.push((target, 0));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> HashMap<String, Vec<String>> {
        edges
            .iter()
            .map(|(from, to)| {
                (
                    (*from).to_owned(),
                    to.iter().map(|t| (*t).to_owned()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn finds_no_cycle_in_a_dag() {
        let g = graph(&[("a", &["b", "c"]), ("b", &["c", "manual"]), ("c", &[])]);
        assert_eq!(find_cycle(&g), None);
        assert_eq!(find_cycle(&HashMap::new()), None);
    }

    #[test]
    fn finds_cycles_with_their_path() {
        let g = graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &["a"])]);
        assert_eq!(
            find_cycle(&g),
            Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
        let self_loop = graph(&[("vip", &["vip"])]);
        assert_eq!(
            find_cycle(&self_loop),
            Some(vec!["vip".into(), "vip".into()])
        );
        let tail = graph(&[("x", &["y"]), ("y", &["z"]), ("z", &["y"])]);
        assert_eq!(
            find_cycle(&tail),
            Some(vec!["y".into(), "z".into(), "y".into()])
        );
    }

    #[test]
    fn long_chains_do_not_overflow() {
        let n = 100_000;
        let mut g: HashMap<String, Vec<String>> = (0..n)
            .map(|i| (i.to_string(), vec![(i + 1).to_string()]))
            .collect();
        assert_eq!(find_cycle(&g), None);
        g.insert(n.to_string(), vec!["0".to_owned()]);
        assert_eq!(find_cycle(&g).map(|c| c.len()), Some(n + 2));
    }
}
