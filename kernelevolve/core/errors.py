"""Typed errors. Retry and reporting logic branches on the type, never on message text."""

from __future__ import annotations


class KernelEvolveError(Exception):
    """Base of every error kernelevolve raises on purpose."""


class ConfigError(KernelEvolveError):
    """A configuration value is missing, unknown or inconsistent."""


class TaskError(KernelEvolveError):
    """A task file cannot be loaded or validated; the message names the file, the problem and the fix."""


class LLMError(KernelEvolveError):
    """An LLM backend failed."""


class RetryableLLMError(LLMError):
    """Rate limits, 5xx and timeouts: the same request may succeed later."""


class NonRetryableLLMError(LLMError):
    """Bad request, auth failure, unknown model: retrying cannot help."""


class ServeError(KernelEvolveError):
    """A self-hosted model's deployment failed or did not answer in time; the message names its state and logs."""


class CandidateError(KernelEvolveError):
    """A candidate kernel is unusable."""


class ExtractionError(CandidateError):
    """An operator response holds no usable kernel source."""


class StoreError(KernelEvolveError):
    """The metadata or object store cannot do what was asked."""


class SandboxError(KernelEvolveError):
    """The evaluation sandbox itself failed (not the candidate)."""


class ProfilerError(KernelEvolveError):
    """A hardware profiler run failed, timed out or gave nothing to parse (the candidate's verdict stands)."""


class ProfilerUnavailableError(ProfilerError):
    """The requested profiler is not installed, or does not profile this platform."""
