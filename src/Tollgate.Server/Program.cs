using Tollgate.Server.Hosting;

return await TollgateProgram.RunAsync(args);
