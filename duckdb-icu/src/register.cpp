// Describes DuckDB's ICU extension to duckdb_register_static_extension, as DuckDB's own
// build generates it from extension/loader/extension_describe.c.in for linked extensions,
// and registers it for every database opened afterwards.

#include "duckdb/main/extension/extension_loader.hpp"
#include "duckdb_static_extension.h"

extern "C" void icu_duckdb_cpp_init(duckdb::ExtensionLoader &loader);

extern "C" int32_t duckdb_extension_icu_describe(duckdb_extension_descriptor *descriptor) {
	if (descriptor->version < 1) {
		descriptor->set_error(descriptor, "extension icu needs descriptor layout 1");
		return 1;
	}
	descriptor->version = 1;
	descriptor->name = "icu";
	descriptor->extension_version = EXT_VERSION_ICU;
	descriptor->api_version = "v2.0.0";
	descriptor->entry_cpp = (void (*)(void))icu_duckdb_cpp_init;
	return 0;
}

extern "C" int32_t dango_duckdb_icu_register(void) {
	return duckdb_register_static_extension(duckdb_extension_icu_describe);
}
