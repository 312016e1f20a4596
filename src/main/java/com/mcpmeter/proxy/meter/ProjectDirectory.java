package com.mcpmeter.proxy.meter;

import java.util.Optional;

public interface ProjectDirectory {
    Optional<Project> find(long projectId);
}
