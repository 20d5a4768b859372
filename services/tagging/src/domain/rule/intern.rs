//! Interning of the names rules mention (stores, dish categories, tags, attributes) into
//! dense `u32` ids, so evaluation compares integers, never strings. The same [`Interner`]
//! must be used to compile rules and to load [`CustomerFacts`](super::CustomerFacts);
//! a name first seen in a rule gets an id no customer carries yet (and so matches none).

use std::collections::HashMap;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u32);
    };
}

id_type!(
    /// An interned store id.
    StoreId
);
id_type!(
    /// An interned dish-category id.
    CategoryId
);
id_type!(
    /// An interned tag id.
    TagId
);
id_type!(
    /// An interned profile-attribute name id.
    AttrId
);

#[derive(Debug, Default, Clone)]
struct Symbols {
    ids: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Symbols {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        // 4 billion distinct names per namespace is far beyond any chain; saturate rather
        // than panic should it ever happen.
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    fn name(&self, id: u32) -> Option<&str> {
        self.names.get(id as usize).map(|name| &**name)
    }
}

/// Maps names to ids, one namespace per kind of name.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    stores: Symbols,
    categories: Symbols,
    tags: Symbols,
    attributes: Symbols,
}

impl Interner {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn store(&mut self, name: &str) -> StoreId {
        StoreId(self.stores.intern(name))
    }

    pub fn category(&mut self, name: &str) -> CategoryId {
        CategoryId(self.categories.intern(name))
    }

    pub fn tag(&mut self, name: &str) -> TagId {
        TagId(self.tags.intern(name))
    }

    pub fn attribute(&mut self, name: &str) -> AttrId {
        AttrId(self.attributes.intern(name))
    }

    /// The tag's id if it was ever interned (for read-only paths).
    pub fn find_tag(&self, name: &str) -> Option<TagId> {
        self.tags.get(name).map(TagId)
    }

    pub fn store_name(&self, id: StoreId) -> Option<&str> {
        self.stores.name(id.0)
    }

    pub fn category_name(&self, id: CategoryId) -> Option<&str> {
        self.categories.name(id.0)
    }

    pub fn tag_name(&self, id: TagId) -> Option<&str> {
        self.tags.name(id.0)
    }

    pub fn attribute_name(&self, id: AttrId) -> Option<&str> {
        self.attributes.name(id.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_stable_and_per_namespace() {
        let mut interner = Interner::new();
        let vip = interner.tag("vip");
        assert_eq!(interner.tag("vip"), vip);
        assert_ne!(interner.tag("churned"), vip);
        assert_eq!(interner.store("vip"), StoreId(0));
        assert_eq!(interner.tag_name(vip), Some("vip"));
        assert_eq!(interner.find_tag("churned"), Some(TagId(1)));
        assert_eq!(interner.find_tag("nope"), None);
        let seafood = interner.category("海鲜");
        assert_eq!(interner.category_name(seafood), Some("海鲜"));
        let gender = interner.attribute("gender");
        assert_eq!(interner.attribute_name(gender), Some("gender"));
        assert_eq!(interner.store_name(StoreId(7)), None);
    }
}
