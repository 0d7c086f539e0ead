package server

import (
	"encoding/json"
	"html"
	"net/http"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"
)

// openAPISpec describes the endpoints (OpenAPI 3.0). It is written by hand next to the
// handlers it documents; TestOpenAPIMatchesRoutes keeps the two in step.
const openAPISpec = `{
  "openapi": "3.0.3",
  "info": {
    "title": "Larder feature server",
    "description": "Feast-compatible feature server API. Error bodies are {\"error\": message, \"status_code\": n, \"field\": offending request field (optional)}.",
    "version": "VERSION"
  },
  "paths": {
    "/get-online-features": {
      "post": {
        "summary": "Retrieves feature values for specified entities and feature references.",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GetOnlineFeaturesRequest"}}}},
        "responses": {
          "200": {"description": "Columnar feature values", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GetOnlineFeaturesResponse"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "422": {"$ref": "#/components/responses/Unprocessable"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/push": {
      "post": {
        "summary": "Pushes feature data to the online and/or offline store of every feature view fed by a push source.",
        "description": "to=offline appends the rows to the views' batch source file through the offline store plugin (the frame must hold exactly the file's columns, by name or field_mapping name); the file is replaced atomically and left intact on failure. to=online_and_offline validates both sides first, appends offline, then writes online; if the online write fails after the append, the error says so and the push should be retried with to=online.",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PushRequest"}}}},
        "responses": {
          "200": {"description": "Pushed (empty body)"},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "422": {"$ref": "#/components/responses/Unprocessable"},
          "501": {"description": "The offline store plugin cannot plan writes (no larder_offline_plan_write)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/write-to-online-store": {
      "post": {
        "summary": "Writes rows to one feature view's online table.",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WriteToOnlineStoreRequest"}}}},
        "responses": {
          "200": {"description": "Written; the body is null", "content": {"application/json": {"schema": {"nullable": true}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/materialize": {
      "post": {
        "summary": "Materializes features within a specific time range to the online store.",
        "parameters": [{"$ref": "#/components/parameters/async"}, {"$ref": "#/components/parameters/force"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MaterializeRequest"}}}},
        "responses": {
          "200": {"description": "Materialized; the body is null", "content": {"application/json": {"schema": {"nullable": true}}}},
          "202": {"description": "Accepted (async=true)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"description": "A materialization of the same feature views is running", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        }
      }
    },
    "/materialize-incremental": {
      "post": {
        "summary": "Incrementally materializes features up to end_ts.",
        "parameters": [{"$ref": "#/components/parameters/async"}, {"$ref": "#/components/parameters/force"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MaterializeIncrementalRequest"}}}},
        "responses": {
          "200": {"description": "Materialized; the body is null", "content": {"application/json": {"schema": {"nullable": true}}}},
          "202": {"description": "Accepted (async=true)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"description": "A materialization of the same feature views is running", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        }
      }
    },
    "/get-historical-features": {
      "post": {
        "summary": "Point-in-time-correct training data for the given entity rows, as an Arrow IPC stream (a Larder extension).",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object",
          "properties": {
            "features": {"type": "array", "items": {"type": "string"}, "description": "view:feature references"},
            "feature_service": {"type": "string"},
            "full_feature_names": {"type": "boolean"},
            "timestamp_column": {"type": "string", "description": "default event_timestamp"},
            "entities": {"type": "object", "description": "columns of entity rows: name -> array of values; the timestamp column holds RFC 3339 text or Unix seconds",
              "additionalProperties": {"type": "array", "items": {}}}
          }, "required": ["entities"]}}}},
        "responses": {
          "200": {"description": "Every entity column, then the requested features; one row per entity row", "content": {"application/vnd.apache.arrow.stream": {"schema": {"type": "string", "format": "binary"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "422": {"description": "The request cannot be answered (e.g. an entity column's type does not match its join key)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "501": {"description": "The offline store cannot plan historical retrieval", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        }
      }
    },
    "/health": {
      "get": {
        "summary": "Checks server status: the registry is readable and the store plugins are healthy.",
        "responses": {"200": {"description": "Healthy (empty body)"}, "503": {"$ref": "#/components/responses/Unavailable"}}
      }
    },
    "/metrics": {
      "get": {
        "summary": "Prometheus metrics (text exposition format 0.0.4), with Feast's metric names.",
        "responses": {"200": {"description": "Metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}}
      }
    },
    "/openapi.json": {
      "get": {"summary": "This document.", "responses": {"200": {"description": "OpenAPI 3 document", "content": {"application/json": {"schema": {"type": "object"}}}}}}
    },
    "/docs": {
      "get": {"summary": "API contract for the available endpoints, as HTML.", "responses": {"200": {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}}}
    }
  },
  "components": {
    "parameters": {
      "async": {"name": "async", "in": "query", "schema": {"type": "boolean", "default": false}, "description": "Run in the background and answer 202."},
      "force": {"name": "force", "in": "query", "schema": {"type": "boolean", "default": false}, "description": "Run even if a materialization of the same views is running."}
    },
    "responses": {
      "BadRequest": {"description": "Malformed or invalid request", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "NotFound": {"description": "A referenced feature view, feature or feature service does not exist", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Unprocessable": {"description": "Well-formed but unusable (unknown push source, unsupported feature)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Unavailable": {"description": "Transient: a store's backend is down or timed out, a store plugin is unhealthy, or the server is at capacity or shutting down; the error says which. Retry after Retry-After seconds", "headers": {"Retry-After": {"schema": {"type": "integer"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    },
    "schemas": {
      "Error": {
        "type": "object",
        "required": ["error", "status_code"],
        "properties": {
          "error": {"type": "string"},
          "status_code": {"type": "integer"},
          "field": {"type": "string", "description": "The request field at fault, e.g. features[1] or entities.driver_id[3]"}
        }
      },
      "Columns": {
        "type": "object",
        "description": "Columnar rows: each key is a column name, each value an array with one element per row, in the same order for every column.",
        "additionalProperties": {"type": "array", "items": {}}
      },
      "GetOnlineFeaturesRequest": {
        "type": "object",
        "required": ["entities"],
        "additionalProperties": false,
        "properties": {
          "entities": {"$ref": "#/components/schemas/Columns"},
          "features": {"type": "array", "items": {"type": "string"}, "description": "References \"feature_view:feature\"; give either features or feature_service."},
          "feature_service": {"type": "string"},
          "full_feature_names": {"type": "boolean", "default": false},
          "include_feature_view_version_metadata": {"type": "boolean", "default": false, "description": "Adds metadata.feature_view_metadata: the feature views read."},
          "request_context": {"$ref": "#/components/schemas/Columns"}
        }
      },
      "FeatureVector": {
        "type": "object",
        "properties": {
          "values": {"type": "array", "items": {}},
          "statuses": {"type": "array", "items": {"type": "string", "enum": ["INVALID", "PRESENT", "NULL_VALUE", "NOT_FOUND", "OUTSIDE_MAX_AGE"]}},
          "event_timestamps": {"type": "array", "items": {"type": "string", "format": "date-time"}}
        }
      },
      "GetOnlineFeaturesResponse": {
        "type": "object",
        "properties": {
          "results": {"type": "array", "items": {"$ref": "#/components/schemas/FeatureVector"}, "description": "One entry per column of metadata.feature_names, in that order; each holds one element per entity row."},
          "metadata": {"type": "object", "properties": {"feature_names": {"type": "array", "items": {"type": "string"}}, "feature_view_metadata": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}}}}
        }
      },
      "PushRequest": {
        "type": "object",
        "required": ["push_source_name", "df"],
        "additionalProperties": false,
        "properties": {
          "push_source_name": {"type": "string"},
          "df": {"$ref": "#/components/schemas/Columns"},
          "to": {"type": "string", "enum": ["online", "offline", "online_and_offline"], "default": "online"},
          "allow_registry_cache": {"type": "boolean", "default": true},
          "transform_on_write": {"type": "boolean", "default": true}
        }
      },
      "WriteToOnlineStoreRequest": {
        "type": "object",
        "required": ["feature_view_name", "df"],
        "additionalProperties": false,
        "properties": {
          "feature_view_name": {"type": "string"},
          "df": {"$ref": "#/components/schemas/Columns"},
          "allow_registry_cache": {"type": "boolean", "default": true},
          "transform_on_write": {"type": "boolean", "default": true}
        }
      },
      "MaterializeRequest": {
        "type": "object",
        "additionalProperties": false,
        "properties": {
          "start_ts": {"type": "string", "description": "ISO 8601; naive times are UTC"},
          "end_ts": {"type": "string"},
          "feature_views": {"type": "array", "items": {"type": "string"}, "nullable": true},
          "disable_event_timestamp": {"type": "boolean", "default": false},
          "full_feature_names": {"type": "boolean", "default": false},
          "version": {"type": "string", "nullable": true}
        }
      },
      "MaterializeIncrementalRequest": {
        "type": "object",
        "required": ["end_ts"],
        "additionalProperties": false,
        "properties": {
          "end_ts": {"type": "string"},
          "feature_views": {"type": "array", "items": {"type": "string"}, "nullable": true},
          "full_feature_names": {"type": "boolean", "default": false},
          "version": {"type": "string", "nullable": true}
        }
      },
      "Accepted": {
        "type": "object",
        "properties": {"status": {"type": "string", "enum": ["accepted"]}, "feature_views": {"type": "array", "items": {"type": "string"}, "nullable": true}}
      }
    }
  }
}`

func (s *Server) openAPIDoc() []byte {
	v := s.opts.Version
	if v == "" {
		v = "dev"
	}
	vb, _ := json.Marshal(v)
	return []byte(strings.Replace(openAPISpec, `"VERSION"`, string(vb), 1))
}

func (s *Server) openAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, s.openAPIDoc())
}

// docs renders the OpenAPI document as a plain HTML page (no scripts or external assets,
// so it works on machines without Internet access).
func (s *Server) docs(c echo.Context) error {
	var doc struct {
		Info  struct{ Title, Description, Version string }
		Paths map[string]map[string]struct {
			Summary string
		}
	}
	if err := json.Unmarshal(s.openAPIDoc(), &doc); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("<!doctype html><html><head><meta charset=\"utf-8\"><title>")
	b.WriteString(html.EscapeString(doc.Info.Title))
	b.WriteString("</title></head><body><h1>")
	b.WriteString(html.EscapeString(doc.Info.Title))
	b.WriteString(" ")
	b.WriteString(html.EscapeString(doc.Info.Version))
	b.WriteString("</h1><p>")
	b.WriteString(html.EscapeString(doc.Info.Description))
	b.WriteString("</p><p>Machine-readable contract: <a href=\"/openapi.json\">/openapi.json</a></p><table border=\"1\" cellpadding=\"4\"><tr><th>method</th><th>path</th><th>what it does</th></tr>")
	paths := make([]string, 0, len(doc.Paths))
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		methods := make([]string, 0, 2)
		for m := range doc.Paths[p] {
			methods = append(methods, m)
		}
		sort.Strings(methods)
		for _, m := range methods {
			b.WriteString("<tr><td>")
			b.WriteString(strings.ToUpper(m))
			b.WriteString("</td><td><code>")
			b.WriteString(html.EscapeString(p))
			b.WriteString("</code></td><td>")
			b.WriteString(html.EscapeString(doc.Paths[p][m].Summary))
			b.WriteString("</td></tr>")
		}
	}
	b.WriteString("</table></body></html>")
	return c.HTML(http.StatusOK, b.String())
}
