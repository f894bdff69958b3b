//! The one probe value a component instance holds, whatever its world.

use std::any::Any;
use std::cell::RefCell;

thread_local! {
    /// A component instance is single-threaded and the component model
    /// forbids re-entry, so the borrow never conflicts.
    static INSTANCE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

/// Runs `f` on the probe value of type `P`, made with [`Default`] on first
/// use (and again if another type was there: only native tests mix types).
pub(crate) fn with<P: Default + 'static, R>(f: impl FnOnce(&mut P) -> R) -> R {
    INSTANCE.with_borrow_mut(|slot| {
        if !slot.as_ref().is_some_and(|value| value.is::<P>()) {
            *slot = Some(Box::new(P::default()));
        }
        let probe =
            slot.as_mut().and_then(|value| value.downcast_mut::<P>()).expect("the slot holds a P");
        f(probe)
    })
}
