//! Figures printed as aligned columns.

/// Rows printed as aligned columns: numbers right-aligned, unless a column
/// is marked left.
pub struct Table {
    lines: Vec<Vec<String>>,
    left: Vec<bool>,
}

impl Table {
    /// A table with this header; the first column left-aligned.
    pub fn new(header: &[&str]) -> Table {
        let mut left = vec![false; header.len()];
        left[0] = true;
        Table {
            lines: vec![header.iter().map(|s| s.to_string()).collect()],
            left,
        }
    }

    /// Left-aligns these columns too.
    pub fn align_left(&mut self, columns: &[usize]) {
        for &c in columns {
            self.left[c] = true;
        }
    }

    /// Adds a row (as many cells as the header).
    pub fn push(&mut self, line: Vec<String>) {
        debug_assert_eq!(line.len(), self.left.len());
        self.lines.push(line);
    }

    /// Prints the rows, each column as wide as its widest cell.
    pub fn print(&self) {
        let widths: Vec<usize> = (0..self.left.len())
            .map(|c| {
                self.lines
                    .iter()
                    .map(|l| l[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for line in &self.lines {
            let cells: Vec<String> = line
                .iter()
                .zip(&widths)
                .zip(&self.left)
                .map(|((cell, &w), &left)| {
                    if left {
                        format!("{cell:<w$}")
                    } else {
                        format!("{cell:>w$}")
                    }
                })
                .collect();
            println!("{}", cells.join(" | ").trim_end());
        }
    }
}
