namespace Dtx.Shared.Hosting;

/// <summary>A service setting that is missing or malformed: the process says which in one line and exits with 2.</summary>
public sealed class ServiceOptionException(string message) : Exception(message);
