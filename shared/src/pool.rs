//! A pool of worker processes (coming with the pool chapter).
