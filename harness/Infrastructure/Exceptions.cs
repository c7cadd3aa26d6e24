namespace Dtx.Harness.Infrastructure;

/// <summary>
/// A binary the harness needs is not installed. The message is one line that names the Debian package to install,
/// so the CLI can print it as is.
/// </summary>
public sealed class MissingDependencyException(string message) : Exception(message);

/// <summary>
/// A server could not be reached or did not become ready. For external servers the message is one line naming
/// host:port and the cause; for embedded servers it may end with the last lines of the server's log.
/// </summary>
public sealed class InfrastructureUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
