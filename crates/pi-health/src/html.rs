//! A tiny HTML builder: markup comes only from `&'static str` literals in this
//! crate, everything else goes through [`crate::escape::html`]. Answers built with
//! it cannot carry markup from a tool, the gateway, a model or a person.

use crate::escape;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Html(String);

impl Html {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Literal markup, written in this crate's source.
    pub(crate) fn raw(&mut self, markup: &'static str) -> &mut Self {
        self.0.push_str(markup);
        self
    }

    /// Text, escaped.
    pub(crate) fn text(&mut self, text: &str) -> &mut Self {
        self.0.push_str(&escape::html(text));
        self
    }

    /// `<tag>text</tag>` for a literal tag pair.
    pub(crate) fn wrap(
        &mut self,
        open: &'static str,
        text: &str,
        close: &'static str,
    ) -> &mut Self {
        self.raw(open).text(text).raw(close)
    }

    /// Another fragment built the same way.
    pub(crate) fn append(&mut self, other: &Html) -> &mut Self {
        self.0.push_str(&other.0);
        self
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[cfg(test)]
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Html;

    #[test]
    fn only_literals_are_markup() {
        let mut html = Html::new();
        html.wrap("<p>", "<script>alert(1)</script>", "</p>");
        assert_eq!(
            html.as_str(),
            "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
        );
    }
}
