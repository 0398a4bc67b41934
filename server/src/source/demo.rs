//! Placeholder: the demo desktop is being written.
use super::{Source, SourceFuture};
use crate::desktop::{Desktop, InputEvent};
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Debug, Default)]
pub struct DemoSource {}

impl DemoSource {
    pub fn new() -> Self {
        Self {}
    }
}

impl Source for DemoSource {
    fn size(&self) -> (u16, u16) {
        (1024, 768)
    }
    fn name(&self) -> String {
        "farview demo".into()
    }
    fn run(
        self: Box<Self>,
        desktop: Arc<Desktop>,
        _input: mpsc::Receiver<InputEvent>,
    ) -> SourceFuture {
        Box::pin(async move {
            desktop.draw(|c| c.fill_rect(c.framebuffer().bounds(), 0x336699));
            std::future::pending::<()>().await;
            Ok(())
        })
    }
}
