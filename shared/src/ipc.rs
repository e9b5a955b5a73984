//! Queues, pipes and events between processes (coming with the ipc chapter).
